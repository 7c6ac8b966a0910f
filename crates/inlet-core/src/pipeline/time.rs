//! Parsing source timestamps into UTC milliseconds.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// Joins minute 0 to a time stamped only by the hour; a control character,
/// so no source text or format has it.
const ON_THE_HOUR: char = '\u{1f}';

/// A compiled `time.format`.
#[derive(Debug, Clone)]
pub enum TimeFormat {
    /// A chrono format with a time of day.
    DateTime(String),
    /// A chrono format with only a date: the time is midnight local.
    Date(String),
    EpochSeconds,
    EpochMillis,
    Rfc3339,
}

impl TimeFormat {
    /// Compiles a format string; the error says what is wrong with it.
    pub fn parse(format: &str) -> Result<Self, String> {
        match format {
            "epoch_seconds" => return Ok(Self::EpochSeconds),
            "epoch_millis" => return Ok(Self::EpochMillis),
            "rfc3339" => return Ok(Self::Rfc3339),
            _ => {}
        }
        if format.trim().is_empty() {
            return Err("the format is empty".into());
        }
        if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
            return Err(format!("{format:?} is not a valid chrono format"));
        }
        let has_time = ["%H", "%I", "%M", "%S", "%T", "%R", "%X", "%c", "%k", "%l"].iter().any(|spec| format.contains(spec));
        let has_date = ["%Y", "%y", "%m", "%d", "%F", "%D", "%j", "%b", "%B", "%e", "%c"].iter().any(|spec| format.contains(spec));
        if !has_date {
            return Err(format!("{format:?} has no date in it (no %Y, %m, %d, %F …)"));
        }
        let has_minutes = ["%M", "%T", "%R", "%X", "%c"].iter().any(|spec| format.contains(spec));
        Ok(match (has_time, has_minutes) {
            (true, true) => Self::DateTime(format.to_owned()),
            // chrono wants minutes in a time of day; a file stamped by the
            // hour (`20240101_05UT`) means minute 0.
            (true, false) => Self::DateTime(format!("{format}{ON_THE_HOUR}%M")),
            (false, _) => Self::Date(format.to_owned()),
        })
    }
}

/// Turns source text into UTC milliseconds since the epoch.
#[derive(Debug, Clone)]
pub struct TimeParser {
    pub format: TimeFormat,
    pub timezone: Tz,
}

impl TimeParser {
    pub fn parse(&self, raw: &str) -> Result<i64, String> {
        let text = raw.trim();
        let naive = match &self.format {
            TimeFormat::EpochSeconds => {
                let seconds: f64 = text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
                return Ok((seconds * 1000.0).round() as i64);
            }
            TimeFormat::EpochMillis => {
                return text.parse::<i64>().map_err(|_| format!("{text:?} is not a number of milliseconds"));
            }
            TimeFormat::Rfc3339 => {
                return DateTime::parse_from_rfc3339(text)
                    .map(|t| t.timestamp_millis())
                    .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp: {e}"));
            }
            TimeFormat::DateTime(format) => match format.strip_suffix(&format!("{ON_THE_HOUR}%M")) {
                Some(hourly) => NaiveDateTime::parse_from_str(&format!("{text}{ON_THE_HOUR}00"), format)
                    .map_err(|e| format!("{text:?} does not match the time format {hourly:?}: {e}"))?,
                None => NaiveDateTime::parse_from_str(text, format)
                    .map_err(|e| format!("{text:?} does not match the time format {format:?}: {e}"))?,
            },
            TimeFormat::Date(format) => NaiveDate::parse_from_str(text, format)
                .map_err(|e| format!("{text:?} does not match the date format {format:?}: {e}"))?
                .and_hms_opt(0, 0, 0)
                .expect("midnight exists"),
        };
        match self.timezone.from_local_datetime(&naive) {
            LocalResult::Single(t) => Ok(t.timestamp_millis()),
            // In the hour repeated at the end of daylight saving, the first one is meant
            // unless the source says otherwise.
            LocalResult::Ambiguous(first, _) => Ok(first.timestamp_millis()),
            LocalResult::None => Err(format!("{text} does not exist in {} (a daylight-saving gap)", self.timezone)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(format: &str, tz: &str) -> TimeParser {
        TimeParser { format: TimeFormat::parse(format).unwrap(), timezone: tz.parse().unwrap() }
    }

    #[test]
    fn a_time_stamped_by_the_hour_is_on_the_hour() {
        let p = parser("%Y%m%d_%H", "UTC");
        assert_eq!(p.parse("20201201_05").unwrap(), 1_606_798_800_000);
        let error = p.parse("20201201").unwrap_err();
        assert!(error.contains("\"%Y%m%d_%H\""), "the format is shown as written: {error}");
    }

    #[test]
    fn buoy_time_is_utc() {
        let p = parser("%Y-%m-%d %H:%M:%S", "UTC");
        assert_eq!(p.parse("2020-12-01 00:10:00").unwrap(), 1_606_781_400_000);
    }

    #[test]
    fn a_sydney_date_is_midnight_local() {
        let p = parser("%Y%m%d", "Australia/Sydney");
        // 2020-12-01 00:00 AEDT (UTC+11) is 2020-11-30 13:00 UTC.
        assert_eq!(p.parse("20201201").unwrap(), 1_606_741_200_000);
    }

    #[test]
    fn gaps_and_junk_are_errors_not_panics() {
        let p = parser("%Y-%m-%d %H:%M", "Australia/Sydney");
        assert!(p.parse("2020-10-04 02:30").unwrap_err().contains("daylight-saving gap"));
        assert!(p.parse("yesterday").unwrap_err().contains("does not match"));
        assert!(parser("epoch_seconds", "UTC").parse("x").is_err());
        assert_eq!(parser("epoch_millis", "UTC").parse("5").unwrap(), 5);
        assert_eq!(parser("rfc3339", "UTC").parse("1970-01-01T00:00:01+00:00").unwrap(), 1000);
    }

    #[test]
    fn bad_formats_are_refused() {
        assert!(TimeFormat::parse("%H:%M").unwrap_err().contains("no date"));
        assert!(TimeFormat::parse("%Y-%Q").is_err());
        assert!(TimeFormat::parse("").is_err());
    }
}
