//! Wall-clock time as tally sees it: real UTC time, or a fixed instant a
//! test injects through `<APP>_TELEMETRY_NOW`, so completed-day gating and
//! multi-day scenarios can be exercised without waiting for midnight. The
//! override is read only in debug builds (see `os::testhook`): a released
//! host's clock cannot be moved from the environment.

pub use super::date::parse_day;
use super::date::{Date, Timestamp};

/// The source of "now" for one process.
#[derive(Clone, Copy, Debug, Default)]
pub enum Clock {
    /// The system clock, in UTC.
    #[default]
    System,
    /// A fixed instant (testing only).
    Fixed(Timestamp),
}

impl Clock {
    /// Reads a clock override: an RFC 3339 instant or a bare `YYYY-MM-DD`
    /// (noon UTC that day). Anything unparsable means the system clock.
    pub fn from_override(value: Option<&str>) -> Self {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Clock::System;
        };
        if let Some(t) = Timestamp::parse_rfc3339(v) {
            return Clock::Fixed(t);
        }
        match parse_day(v).and_then(|d| Timestamp::from_unix(d.midnight_unix() + 12 * 3600)) {
            Some(t) => Clock::Fixed(t),
            None => Clock::System,
        }
    }

    /// The current instant in UTC.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Fixed(t) => *t,
        }
    }

    /// Today's UTC date.
    pub fn today(&self) -> Date {
        self.now().date()
    }

    /// Seconds since the Unix epoch.
    pub fn unix(&self) -> i64 {
        self.now().unix()
    }
}

/// Formats a date as `YYYY-MM-DD`.
pub fn format_day(d: Date) -> String {
    d.to_string()
}

/// Formats an instant as RFC 3339 (UTC, whole seconds).
pub fn format_instant(t: Timestamp) -> String {
    t.to_string()
}

/// Formats a unix time as an RFC 3339 instant (for people reading status).
pub fn format_unix(secs: i64) -> String {
    Timestamp::from_unix(secs)
        .map(format_instant)
        .unwrap_or_else(|| format!("unix time {secs}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_reject_garbage() {
        let d = parse_day("2026-02-28").unwrap();
        assert_eq!(format_day(d), "2026-02-28");
        for bad in [
            "2026-02-30",
            "2026-2-28",
            "20260228",
            "abcd-ef-gh",
            "2026-13-01",
            "",
        ] {
            assert!(parse_day(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn unix_times_are_shown_as_instants() {
        assert_eq!(format_unix(1_795_000_000), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn override_accepts_day_or_instant() {
        let c = Clock::from_override(Some("2026-11-19"));
        assert_eq!(format_day(c.today()), "2026-11-19");
        let c = Clock::from_override(Some("2026-11-19T23:59:59Z"));
        assert_eq!(format_day(c.today()), "2026-11-19");
        assert!(matches!(
            Clock::from_override(Some("yesterday")),
            Clock::System
        ));
        assert!(matches!(Clock::from_override(None), Clock::System));
    }
}
