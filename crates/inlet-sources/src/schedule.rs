//! EventBridge schedule expressions, checked when the sources are loaded, so
//! a typo fails `inlet` and the stack's synthesis rather than a deployment.

/// `rate(1 hour)` or `cron(0 22 ? * MON-FRI *)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule(String);

impl Schedule {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(rate) = text.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            check_rate(rate)?;
        } else if let Some(cron) = text.strip_prefix("cron(").and_then(|c| c.strip_suffix(')')) {
            check_cron(cron)?;
        } else {
            return Err(format!("{text:?} is neither rate(...) nor cron(...)"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The expression, as EventBridge takes it.
    pub fn expression(&self) -> &str {
        &self.0
    }
}

/// `1 hour`, `5 minutes`: EventBridge wants the singular unit for 1 alone.
fn check_rate(rate: &str) -> Result<(), String> {
    let bad = |why: &str| format!("rate({rate}): {why}");
    let (count, unit) = rate.trim().split_once(' ').ok_or_else(|| bad("expected a count and a unit, as in rate(1 hour)"))?;
    let count: u32 = count.parse().map_err(|_| bad("the count is not a whole number"))?;
    if count == 0 {
        return Err(bad("the count must be at least 1"));
    }
    let units = if count == 1 { ["minute", "hour", "day"] } else { ["minutes", "hours", "days"] };
    if !units.contains(&unit.trim()) {
        return Err(bad(&format!("the unit must be one of {}", units.join(", "))));
    }
    Ok(())
}

/// Six fields: minutes, hours, day of month, month, day of week, year; one
/// of the two day fields must be `?`.
fn check_cron(cron: &str) -> Result<(), String> {
    let fields: Vec<&str> = cron.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(format!(
            "cron({cron}) has {} fields; EventBridge wants 6: minutes hours day-of-month month day-of-week year",
            fields.len()
        ));
    }
    if (fields[2] == "?") == (fields[4] == "?") {
        return Err(format!("cron({cron}): exactly one of day-of-month and day-of-week must be ?"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || ",-*/?LW#".contains(c);
    if let Some(field) = fields.iter().find(|f| !f.chars().all(allowed)) {
        return Err(format!("cron({cron}): {field:?} holds characters a cron field cannot"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_crons_as_eventbridge_reads_them() {
        for good in ["rate(1 hour)", "rate(5 minutes)", "rate(1 day)", "cron(0 22 ? * MON-FRI *)", "cron(0/15 * * * ? *)"] {
            assert_eq!(Schedule::parse(good).unwrap().expression(), good);
        }
        for (bad, says) in [
            ("rate(1 hours)", "one of minute, hour, day"),
            ("rate(0 minutes)", "at least 1"),
            ("rate(hourly)", "a count and a unit"),
            ("cron(0 22 * * *)", "wants 6"),
            ("cron(0 22 * * MON *)", "exactly one"),
            ("daily", "neither rate"),
        ] {
            let error = Schedule::parse(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
