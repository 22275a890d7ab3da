//! When a schedule fires: a cron expression read in a time zone, or a fixed interval. Stored as
//! `cron:EXPR` (the zone in its own column) or `every:MS`.

use std::str::FromStr as _;

/// A schedule's firing times.
#[derive(Debug, Clone)]
pub enum When {
    /// Five fields (minute hour day-of-month month day-of-week), read in a time zone.
    Cron {
        /// The expression as given.
        expr: String,
        /// The IANA time zone it is read in.
        timezone: String,
        /// The parsed expression.
        crontab: cronexpr::Crontab,
    },
    /// Every so many milliseconds, from the schedule's creation (or resumption).
    Every {
        /// The interval.
        ms: u64,
    },
}

/// The shortest interval: a schedule is checked about twice a second.
pub const MIN_EVERY_MS: u64 = 1_000;

impl When {
    /// A cron expression in `timezone` (an IANA name such as `Europe/Paris`, or `UTC`).
    pub fn cron(expr: &str, timezone: &str) -> Result<Self, String> {
        let expr = expr.trim();
        if expr.split_whitespace().count() != 5 {
            return Err(format!(
                "{expr:?} is not a cron expression of five fields \
                 (minute hour day-of-month month day-of-week, e.g. \"0 * * * *\")"
            ));
        }
        let crontab = cronexpr::parse_crontab(&format!("{expr} {timezone}"))
            .map_err(|e| format!("cron {expr:?} in time zone {timezone:?}: {e}"))?;
        Ok(When::Cron {
            expr: expr.to_owned(),
            timezone: timezone.to_owned(),
            crontab,
        })
    }

    /// An interval such as `30s`, `5m`, `1h 30m` or `2d`.
    pub fn every(text: &str) -> Result<Self, String> {
        let ms = duration_ms(text)?;
        if ms < MIN_EVERY_MS {
            return Err(format!(
                "{text:?}: an interval is at least {} s",
                MIN_EVERY_MS / 1000
            ));
        }
        Ok(When::Every { ms })
    }

    /// The stored form and time zone: (`cron:EXPR` or `every:MS`, zone).
    pub fn stored(&self) -> (String, String) {
        match self {
            When::Cron { expr, timezone, .. } => (format!("cron:{expr}"), timezone.clone()),
            When::Every { ms } => (format!("every:{ms}"), "UTC".to_owned()),
        }
    }

    /// Reads the stored form back.
    pub fn from_stored(spec: &str, timezone: &str) -> Result<Self, String> {
        if let Some(expr) = spec.strip_prefix("cron:") {
            return When::cron(expr, timezone);
        }
        if let Some(ms) = spec.strip_prefix("every:") {
            let ms = ms
                .parse()
                .map_err(|_| format!("stored interval {spec:?} is not a number"))?;
            return Ok(When::Every { ms });
        }
        Err(format!(
            "stored schedule {spec:?} is neither cron: nor every:"
        ))
    }

    /// The first firing strictly after `after_ms`; for an interval, counted from `origin_ms`.
    pub fn next_after(&self, after_ms: u64, origin_ms: u64) -> Result<u64, String> {
        match self {
            When::Cron { crontab, expr, .. } => {
                let after = i64::try_from(after_ms).map_err(|_| "time out of range".to_owned())?;
                let start = cronexpr::MakeTimestamp::from_millisecond(after)
                    .map_err(|e| format!("cron {expr:?}: {e}"))?;
                let next = crontab
                    .find_next(start)
                    .map_err(|e| format!("cron {expr:?}: {e}"))?;
                u64::try_from(next.timestamp().as_millisecond())
                    .map_err(|_| format!("cron {expr:?}: a firing before 1970"))
            }
            When::Every { ms } => {
                let ms = (*ms).max(1);
                let since = after_ms.saturating_sub(origin_ms);
                Ok(origin_ms.saturating_add((since / ms + 1).saturating_mul(ms)))
            }
        }
    }

    /// How it reads: `cron "0 * * * *" (Europe/Paris)` or `every 30 s`.
    pub fn describe(&self) -> String {
        match self {
            When::Cron { expr, timezone, .. } => format!("cron {expr:?} ({timezone})"),
            When::Every { ms } if ms % 1000 == 0 => format!("every {} s", ms / 1000),
            When::Every { ms } => format!("every {ms} ms"),
        }
    }
}

/// A duration such as `30s`, `5m`, `1h 30m` or `2d`, in ms.
pub fn duration_ms(text: &str) -> Result<u64, String> {
    let span = jiff::Span::from_str(text.trim())
        .map_err(|e| format!("{text:?} is not a duration such as 30s, 5m, 1h 30m or 2d: {e}"))?;
    let ms = span
        .total(jiff::SpanTotal::from(jiff::Unit::Millisecond).days_are_24_hours())
        .map_err(|e| format!("{text:?}: {e}"))?;
    if !(ms >= 0.0 && ms < u64::MAX as f64) {
        return Err(format!("{text:?} is not a duration of zero or more"));
    }
    Ok(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-30T10:20:00Z in ms.
    const T: u64 = 1_796_034_000_000;

    #[test]
    fn a_cron_expression_fires_at_its_next_minute_in_its_zone() {
        let hourly = When::cron("0 * * * *", "UTC").unwrap();
        assert_eq!(hourly.next_after(T, 0).unwrap(), T + 40 * 60_000);
        // 09:00 in Paris is 08:00 UTC in winter: from 10:20 UTC, the next is tomorrow 08:00 UTC.
        let nine = When::cron("0 9 * * *", "Europe/Paris").unwrap();
        assert_eq!(nine.next_after(T, 0).unwrap(), T + (21 * 60 + 40) * 60_000);
        // Strictly after: a firing time itself gives the next one.
        let at = hourly.next_after(T, 0).unwrap();
        assert_eq!(hourly.next_after(at, 0).unwrap(), at + 3_600_000);
    }

    #[test]
    fn bad_cron_expressions_and_zones_say_what_is_wrong() {
        assert!(
            When::cron("* * *", "UTC")
                .unwrap_err()
                .contains("five fields")
        );
        assert!(When::cron("61 * * * *", "UTC").is_err());
        assert!(
            When::cron("0 * * * *", "Mars/Olympus")
                .unwrap_err()
                .contains("Mars/Olympus")
        );
    }

    #[test]
    fn an_interval_counts_from_its_origin() {
        let every = When::every("30s").unwrap();
        assert_eq!(every.next_after(1_000, 1_000).unwrap(), 31_000);
        assert_eq!(every.next_after(31_000, 1_000).unwrap(), 61_000);
        assert_eq!(every.next_after(45_000, 1_000).unwrap(), 61_000);
        assert!(matches!(
            When::every("1h 30m").unwrap(),
            When::Every { ms: 5_400_000 }
        ));
        assert!(matches!(
            When::every("2d").unwrap(),
            When::Every { ms: 172_800_000 }
        ));
        assert!(When::every("10ms").unwrap_err().contains("at least"));
        assert!(When::every("often").is_err());
    }

    #[test]
    fn the_stored_form_reads_back() {
        for when in [
            When::cron("*/5 * * * *", "Asia/Tokyo").unwrap(),
            When::every("5m").unwrap(),
        ] {
            let (spec, zone) = when.stored();
            let back = When::from_stored(&spec, &zone).unwrap();
            assert_eq!(back.stored(), (spec, zone));
        }
    }
}
