//! URL templates: `https://example.com/data/{year}/{lastmonth}.csv`.
//!
//! A template is compiled once, when the sources are loaded, so a mistake is
//! a configuration error and never a wrong URL at run time. Every placeholder
//! is read in the source's time zone, with calendar arithmetic: the month
//! before January is December of the year before, a month back from 31 March
//! is the last day of February, and a day back is the calendar day before,
//! whatever daylight saving did.
//!
//! | placeholder | gives |
//! |---|---|
//! | `{year}` `{month}` `{day}` `{hour}` `{minute}` | the local time's fields, zero-padded |
//! | `{lastmonth}` `{lastmonth_year}` | the month before this one (`12` in January) and its year |
//! | `{yesterday}` | the day before, as `YYYYMMDD` |
//! | `{date:FORMAT}` | the local time in a chrono format, e.g. `{date:%Y%m%d}` |
//! | `{date-1d:FORMAT}`, `{date+2h:FORMAT}` | the same, moved by whole `y`ears, `mo`nths, `w`eeks, `d`ays, `h`ours or `min`utes |

use std::fmt::Write;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Days, Duration, FixedOffset, Months, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Where a source's clock is: an IANA zone, or a fixed UTC offset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Named(Tz),
    Fixed(FixedOffset),
}

impl Zone {
    /// `UTC`, `Australia/Sydney`, or an offset such as `+10:00`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Ok(zone) = text.parse::<Tz>() {
            return Ok(Self::Named(zone));
        }
        let offset =
            text.parse::<FixedOffset>().map_err(|_| format!("{text:?} is neither an IANA time zone nor a UTC offset like +10:00"))?;
        Ok(Self::Fixed(offset))
    }

    /// The wall-clock time here at `at`.
    pub fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Self::Named(zone) => at.with_timezone(zone).naive_local(),
            Self::Fixed(offset) => at.with_timezone(offset).naive_local(),
        }
    }

    /// The instant a wall-clock time here names; in a gap or an overlap of
    /// daylight saving, the earliest that exists.
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let resolve = |result: chrono::LocalResult<DateTime<Utc>>| result.earliest();
        let found = match self {
            Self::Named(zone) => resolve(zone.from_local_datetime(&local).map(|t| t.with_timezone(&Utc))),
            Self::Fixed(offset) => resolve(offset.from_local_datetime(&local).map(|t| t.with_timezone(&Utc))),
        };
        // A gap: the hour that was skipped moves on by that hour.
        found.unwrap_or_else(|| self.instant(local + Duration::hours(1)))
    }
}

/// How far `{date±N<unit>:…}` moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shift {
    Months(i64),
    Days(i64),
    Minutes(i64),
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    /// A chrono format of the local time, moved first.
    Date {
        shift: Option<Shift>,
        format: String,
    },
}

/// A compiled URL template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    text: String,
    pieces: Vec<Piece>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            pieces.push(Piece::Text(rest[..open].to_owned()));
            let close = rest[open..].find('}').ok_or_else(|| format!("the `{{` at {:?} is never closed", &rest[open..]))? + open;
            pieces.push(placeholder(&rest[open + 1..close])?);
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("a `}}` in {rest:?} closes nothing"));
        }
        pieces.push(Piece::Text(rest.to_owned()));
        pieces.retain(|piece| *piece != Piece::Text(String::new()));
        Ok(Self { text: text.to_owned(), pieces })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The URL for a run at `at`, in the source's `zone`.
    pub fn expand(&self, at: DateTime<Utc>, zone: Zone) -> String {
        let local = zone.local(at);
        let mut out = String::with_capacity(self.text.len() + 16);
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Date { shift, format } => {
                    let moved = shift.map_or(local, |shift| shifted(local, shift, zone));
                    let _ = write!(out, "{}", moved.format(format));
                }
            }
        }
        out
    }
}

fn placeholder(name: &str) -> Result<Piece, String> {
    let date = |shift: Option<Shift>, format: &str| Ok(Piece::Date { shift, format: format.to_owned() });
    match name {
        "year" => date(None, "%Y"),
        "month" => date(None, "%m"),
        "day" => date(None, "%d"),
        "hour" => date(None, "%H"),
        "minute" => date(None, "%M"),
        "lastmonth" => date(Some(Shift::Months(-1)), "%m"),
        "lastmonth_year" => date(Some(Shift::Months(-1)), "%Y"),
        "yesterday" => date(Some(Shift::Days(-1)), "%Y%m%d"),
        _ => match name.strip_prefix("date").and_then(|rest| rest.split_once(':')) {
            Some((shift, format)) => {
                check_format(format)?;
                let shift = if shift.is_empty() { None } else { Some(parse_shift(shift)?) };
                date(shift, format)
            }
            None => Err(format!(
                "{{{name}}} is not a placeholder; use year, month, day, hour, minute, lastmonth, lastmonth_year, yesterday, or date±N<unit>:FORMAT"
            )),
        },
    }
}

/// `-1d`, `+2h`, `-3mo`: a sign, a count and a unit.
fn parse_shift(text: &str) -> Result<Shift, String> {
    let bad = || format!("{text:?} is not a shift like -1d, +2h, -1mo, -30min, -1w or -1y");
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => return Err(bad()),
    };
    let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let count: i64 = rest[..digits].parse().map_err(|_| bad())?;
    let count = sign * count;
    match &rest[digits..] {
        "y" => Ok(Shift::Months(12 * count)),
        "mo" => Ok(Shift::Months(count)),
        "w" => Ok(Shift::Days(7 * count)),
        "d" => Ok(Shift::Days(count)),
        "h" => Ok(Shift::Minutes(60 * count)),
        "min" => Ok(Shift::Minutes(count)),
        _ => Err(bad()),
    }
}

fn check_format(format: &str) -> Result<(), String> {
    if format.is_empty() || StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(format!("{format:?} is not a chrono format such as %Y%m%d"));
    }
    Ok(())
}

/// Months and days move the calendar (the day clamped to the month's last);
/// hours and minutes move the clock, across any change of offset.
fn shifted(local: NaiveDateTime, shift: Shift, zone: Zone) -> NaiveDateTime {
    let moved = match shift {
        Shift::Months(n) if n < 0 => local.checked_sub_months(Months::new(n.unsigned_abs() as u32)),
        Shift::Months(n) => local.checked_add_months(Months::new(n as u32)),
        Shift::Days(n) if n < 0 => local.checked_sub_days(Days::new(n.unsigned_abs())),
        Shift::Days(n) => local.checked_add_days(Days::new(n as u64)),
        Shift::Minutes(n) => return zone.local(zone.instant(local) + Duration::minutes(n)),
    };
    moved.unwrap_or(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn expand(template: &str, when: &str, zone: &str) -> String {
        Template::parse(template).unwrap().expand(at(when), Zone::parse(zone).unwrap())
    }

    #[test]
    fn lastmonth_is_the_month_before_in_every_month() {
        let cases = [
            ("2021-01-15T00:00:00Z", "2020-12"),
            ("2021-02-15T00:00:00Z", "2021-01"),
            ("2021-03-31T00:00:00Z", "2021-02"),
            ("2021-04-15T00:00:00Z", "2021-03"),
            ("2021-05-31T00:00:00Z", "2021-04"),
            ("2021-06-15T00:00:00Z", "2021-05"),
            ("2021-07-31T00:00:00Z", "2021-06"),
            ("2021-08-15T00:00:00Z", "2021-07"),
            ("2021-09-15T00:00:00Z", "2021-08"),
            ("2021-10-31T00:00:00Z", "2021-09"),
            ("2021-11-15T00:00:00Z", "2021-10"),
            ("2021-12-31T00:00:00Z", "2021-11"),
        ];
        for (when, expected) in cases {
            assert_eq!(expand("{lastmonth_year}-{lastmonth}", when, "UTC"), expected, "{when}");
        }
    }

    #[test]
    fn leap_days_and_month_ends_are_calendar_arithmetic() {
        assert_eq!(expand("{yesterday}", "2024-03-01T05:00:00Z", "UTC"), "20240229");
        assert_eq!(expand("{yesterday}", "2023-03-01T05:00:00Z", "UTC"), "20230228");
        assert_eq!(expand("{date-1mo:%Y-%m-%d}", "2024-03-31T00:00:00Z", "UTC"), "2024-02-29");
        assert_eq!(expand("{date-1y:%Y-%m-%d}", "2024-02-29T00:00:00Z", "UTC"), "2023-02-28");
        assert_eq!(expand("{date+1d:%Y%m%d}", "2024-02-28T00:00:00Z", "UTC"), "20240229");
        assert_eq!(expand("{date-1w:%Y%m%d}", "2024-01-03T00:00:00Z", "UTC"), "20231227");
    }

    #[test]
    fn fields_are_read_in_the_source_time_zone() {
        // 20:00 UTC on 31 December is already New Year in Sydney (UTC+11).
        let url = "https://example.com/{year}/{month}/{day}/{hour}{minute}.csv";
        assert_eq!(expand(url, "2020-12-31T20:30:00Z", "Australia/Sydney"), "https://example.com/2021/01/01/0730.csv");
        assert_eq!(expand(url, "2020-12-31T20:30:00Z", "+10:00"), "https://example.com/2021/01/01/0630.csv");
        assert_eq!(expand("{yesterday}", "2020-12-31T20:30:00Z", "Australia/Sydney"), "20201231");
        assert_eq!(expand("{lastmonth_year}{lastmonth}", "2020-12-31T20:30:00Z", "Australia/Sydney"), "202012");
    }

    #[test]
    fn hours_move_the_clock_across_daylight_saving() {
        // Sydney's clocks went back an hour at 03:00 on 4 April 2021 (16:00 UTC on the 3rd).
        assert_eq!(expand("{date-2h:%d %H:%M}", "2021-04-03T17:30:00Z", "Australia/Sydney"), "04 02:30");
        assert_eq!(expand("{date-1d:%d %H:%M}", "2021-04-03T17:30:00Z", "Australia/Sydney"), "03 03:30");
    }

    #[test]
    fn mistakes_are_named_when_the_template_is_compiled() {
        for (template, says) in [
            ("https://x/{mnth}.csv", "{mnth} is not a placeholder"),
            ("https://x/{year.csv", "never closed"),
            ("https://x/}year.csv", "closes nothing"),
            ("https://x/{date-1q:%Y}", "is not a shift"),
            ("https://x/{date:%Q}", "not a chrono format"),
            ("https://x/{date:}", "not a chrono format"),
        ] {
            let error = Template::parse(template).unwrap_err();
            assert!(error.contains(says), "{template}: {error}");
        }
        assert!(Zone::parse("Sydney").unwrap_err().contains("UTC offset"));
    }
}
