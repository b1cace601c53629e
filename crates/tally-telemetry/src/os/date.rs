//! Calendar days and instants in UTC, the little of a date library tally
//! needs: a day is a count of days since 1970-01-01, an instant a count of
//! seconds since then. Conversions use Howard Hinnant's civil-from-days
//! algorithms (public domain), so a host does not link a date crate for
//! `YYYY-MM-DD` keys, month and ISO-week names and RFC 3339 timestamps.
//! Days are kept within years 1..=9999 so every day prints as ten
//! characters; arithmetic saturates at those bounds instead of panicking,
//! whatever a hostile `--since` or a crafted file asks for.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::{SystemTime, UNIX_EPOCH};

/// Days from 1970-01-01 to 0001-01-01 (negative) and to 9999-12-31.
const MIN_DAYS: i64 = -719_162;
const MAX_DAYS: i64 = 2_932_896;
const SECS_PER_DAY: i64 = 86_400;

/// A calendar day (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

impl Date {
    /// The day `days` after 1970-01-01, if within years 1..=9999.
    pub fn from_unix_days(days: i64) -> Option<Date> {
        (MIN_DAYS..=MAX_DAYS)
            .contains(&days)
            .then_some(Date(days as i32))
    }

    /// The day of a calendar date, if it is a real one.
    pub fn from_calendar_date(year: i32, month: u8, day: u8) -> Option<Date> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        if day > days_in_month(year, month) {
            return None;
        }
        Some(Date(days_from_civil(year, month, day) as i32))
    }

    /// Days since 1970-01-01 (negative before).
    pub fn unix_days(self) -> i64 {
        i64::from(self.0)
    }

    /// Year, month (1–12) and day of month (1–31).
    pub fn to_calendar_date(self) -> (i32, u8, u8) {
        civil_from_days(self.unix_days())
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.to_calendar_date().0
    }

    /// The month, 1–12.
    pub fn month(self) -> u8 {
        self.to_calendar_date().1
    }

    /// The day of the month, 1–31.
    pub fn day(self) -> u8 {
        self.to_calendar_date().2
    }

    /// The month's English name, abbreviated (`Jan` … `Dec`).
    pub fn month_abbrev(self) -> &'static str {
        const NAMES: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        NAMES[usize::from(self.month() - 1)]
    }

    /// The ISO 8601 week-numbering year and week (1–53).
    pub fn iso_week(self) -> (i32, u8) {
        // ISO weeks start on Monday; the week belongs to the year of its
        // Thursday. 1970-01-01 was a Thursday.
        let weekday = (self.unix_days() + 3).rem_euclid(7); // 0 = Monday
        let thursday = self.unix_days() - weekday + 3;
        let (year, _, _) = civil_from_days(thursday);
        let jan1 = days_from_civil(year, 1, 1);
        (year, ((thursday - jan1) / 7 + 1) as u8)
    }

    /// The day before, unless this is the first representable day.
    pub fn previous_day(self) -> Option<Date> {
        Date::from_unix_days(self.unix_days() - 1)
    }

    /// Seconds since the epoch at this day's midnight (UTC).
    pub fn midnight_unix(self) -> i64 {
        self.unix_days() * SECS_PER_DAY
    }

    fn saturating(days: i64) -> Date {
        Date(days.clamp(MIN_DAYS, MAX_DAYS) as i32)
    }
}

/// `day + n` days, saturating at the representable range.
impl Add<i64> for Date {
    type Output = Date;
    fn add(self, days: i64) -> Date {
        Date::saturating(self.unix_days().saturating_add(days))
    }
}

/// `day - n` days, saturating at the representable range.
impl Sub<i64> for Date {
    type Output = Date;
    fn sub(self, days: i64) -> Date {
        Date::saturating(self.unix_days().saturating_sub(days))
    }
}

/// The number of days from `other` to `self`.
impl Sub<Date> for Date {
    type Output = i64;
    fn sub(self, other: Date) -> i64 {
        self.unix_days() - other.unix_days()
    }
}

/// `YYYY-MM-DD`.
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.to_calendar_date();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// An instant in UTC, to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The system clock's current instant.
    pub fn now() -> Timestamp {
        let secs = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        Timestamp::saturating(secs)
    }

    /// The instant `secs` after the epoch, if its day is representable.
    pub fn from_unix(secs: i64) -> Option<Timestamp> {
        Date::from_unix_days(secs.div_euclid(SECS_PER_DAY)).map(|_| Timestamp(secs))
    }

    /// Seconds since the epoch.
    pub fn unix(self) -> i64 {
        self.0
    }

    /// The day this instant falls on (UTC).
    pub fn date(self) -> Date {
        Date::saturating(self.0.div_euclid(SECS_PER_DAY))
    }

    /// This instant plus `secs` seconds (saturating).
    pub fn plus_secs(self, secs: i64) -> Timestamp {
        Timestamp::saturating(self.0.saturating_add(secs))
    }

    /// Parses RFC 3339 (`2026-11-19T23:59:59Z`, `…+01:00`, fractions of a
    /// second ignored).
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        let day = parse_day(s.get(..10)?)?;
        let two = |at: usize| -> Option<i64> {
            let p = s.get(at..at + 2)?;
            p.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| p.parse().ok())?
        };
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (h, m, sec) = (two(11)?, two(14)?, two(17)?);
        if h > 23 || m > 59 || sec > 60 {
            return None;
        }
        let mut rest = &s[19..];
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            rest = &frac[digits..];
        }
        let offset = match rest {
            "Z" | "z" => 0,
            _ => {
                let sign = match rest.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let r = rest.as_bytes();
                if r.len() != 6 || r[3] != b':' {
                    return None;
                }
                let oh: i64 = rest[1..3].parse().ok()?;
                let om: i64 = rest[4..6].parse().ok()?;
                if oh > 23 || om > 59 {
                    return None;
                }
                sign * (oh * 3600 + om * 60)
            }
        };
        Timestamp::from_unix(day.midnight_unix() + h * 3600 + m * 60 + sec.min(59) - offset)
    }

    fn saturating(secs: i64) -> Timestamp {
        Timestamp(secs.clamp(MIN_DAYS * SECS_PER_DAY, (MAX_DAYS + 1) * SECS_PER_DAY - 1))
    }
}

/// RFC 3339 in UTC, whole seconds: `2026-11-18T11:06:40Z`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.rem_euclid(SECS_PER_DAY);
        write!(
            f,
            "{}T{:02}:{:02}:{:02}Z",
            self.date(),
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

/// Parses `YYYY-MM-DD` strictly (ten characters, a real calendar date).
pub fn parse_day(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    Date::from_calendar_date(num(0..4)? as i32, num(5..7)? as u8, num(8..10)? as u8)
}

fn is_leap(y: i32) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant).
fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Hinnant).
fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_day_round_trips_through_the_calendar() {
        let mut expect = (1, 1, 1);
        for n in MIN_DAYS..=MAX_DAYS {
            let d = Date::from_unix_days(n).unwrap();
            assert_eq!(d.to_calendar_date(), expect, "day {n}");
            let (y, m, dd) = expect;
            assert_eq!(Date::from_calendar_date(y, m, dd), Some(d));
            expect = if dd < days_in_month(y, m) {
                (y, m, dd + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
        assert_eq!(expect, (10000, 1, 1));
        assert_eq!(Date::from_unix_days(MAX_DAYS + 1), None);
        assert_eq!(Date::from_unix_days(MIN_DAYS - 1), None);
    }

    #[test]
    fn days_parse_strictly_and_print_as_ten_characters() {
        let d = parse_day("2026-02-28").unwrap();
        assert_eq!(d.to_string(), "2026-02-28");
        assert_eq!(parse_day("2024-02-29").unwrap().to_string(), "2024-02-29");
        for bad in [
            "2026-02-29",
            "2026-02-30",
            "2026-2-28",
            "20260228",
            "abcd-ef-gh",
            "2026-13-01",
            "2026-00-10",
            "0000-01-01",
            "+026-01-01",
            "",
        ] {
            assert!(parse_day(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_day("1970-01-01").unwrap().unix_days(), 0);
    }

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        let d = parse_day("2026-11-25").unwrap();
        assert_eq!((d + 6).to_string(), "2026-12-01");
        assert_eq!((d - 25).to_string(), "2026-10-31");
        assert_eq!((d + 6) - d, 6);
        assert_eq!((d - i64::MAX).to_string(), "0001-01-01");
        assert_eq!((d + i64::MAX).to_string(), "9999-12-31");
        assert_eq!(parse_day("0001-01-01").unwrap().previous_day(), None);
    }

    #[test]
    fn iso_weeks_match_the_calendar() {
        for (day, week) in [
            ("2026-11-25", (2026, 48)),
            ("2021-01-03", (2020, 53)),
            ("2021-01-04", (2021, 1)),
            ("2024-12-30", (2025, 1)),
            ("2026-01-01", (2026, 1)),
            ("2027-01-01", (2026, 53)),
        ] {
            assert_eq!(parse_day(day).unwrap().iso_week(), week, "{day}");
        }
    }

    #[test]
    fn instants_print_and_parse_as_rfc3339() {
        let t = Timestamp::from_unix(1_795_000_000).unwrap();
        assert_eq!(t.to_string(), "2026-11-18T11:06:40Z");
        assert_eq!(Timestamp::parse_rfc3339("2026-11-18T11:06:40Z"), Some(t));
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-18T12:06:40.25+01:00"),
            Some(t)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-18T10:36:40-00:30"),
            Some(t)
        );
        for bad in [
            "2026-11-18",
            "2026-11-18T25:00:00Z",
            "2026-11-18T11:06:40",
            "x",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(
            Timestamp::from_unix(-1).unwrap().to_string(),
            "1969-12-31T23:59:59Z"
        );
        assert_eq!(t.date().month_abbrev(), "Nov");
        assert!(Timestamp::now().unix() > 1_700_000_000);
    }
}
