//! How long a machine id lives. A persistent random id makes the data
//! pseudonymous: every day a machine reports can be linked to every other.
//! With a rotation period the id is replaced by a fresh random one when the
//! period changes, so a machine stays countable within a period (distinct
//! machines per month, say) and its periods cannot be linked to each other.
//! The application picks a period with the builder; an administrator's
//! policy file may pick a shorter one, never a longer one.
//!
//! The id is random, never derived from the period or the old id, so a new
//! one says nothing about its predecessor. The period it belongs to is kept
//! beside it (`machine_id_period`); the id is replaced the first time it is
//! needed in a new period (a send, `telemetry on`): see
//! `record::state::current_id`.

use crate::os::date::Date;

/// How often the machine id is replaced by a new random one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rotation {
    /// A new id every UTC day: counts machines per day only.
    Daily,
    /// A new id every ISO week.
    Weekly,
    /// A new id every calendar month (UTC).
    Monthly,
    /// A new id every calendar year (UTC).
    Yearly,
    /// One id until `telemetry reset` or `off` (the default).
    #[default]
    Never,
}

impl Rotation {
    /// The words accepted in a policy file, for messages.
    pub const WORDS: &'static str = "never, yearly, monthly, weekly, daily";

    /// Reads a policy file's word.
    pub fn parse(word: &str) -> Option<Rotation> {
        Some(match word.trim().to_ascii_lowercase().as_str() {
            "never" => Rotation::Never,
            "yearly" => Rotation::Yearly,
            "monthly" => Rotation::Monthly,
            "weekly" => Rotation::Weekly,
            "daily" => Rotation::Daily,
            _ => return None,
        })
    }

    /// The word for status.
    pub fn as_str(self) -> &'static str {
        match self {
            Rotation::Never => "never",
            Rotation::Yearly => "yearly",
            Rotation::Monthly => "monthly",
            Rotation::Weekly => "weekly",
            Rotation::Daily => "daily",
        }
    }

    /// The shorter of two periods (an unset one defers to the other).
    pub fn stricter(a: Option<Rotation>, b: Option<Rotation>) -> Option<Rotation> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The name of the period `day` falls in (`2026-11`, `2026-W48`, …);
    /// `None` when the id never rotates.
    pub(crate) fn period(self, day: Date) -> Option<String> {
        Some(match self {
            Rotation::Never => return None,
            Rotation::Yearly => format!("{}", day.year()),
            Rotation::Monthly => format!("{}-{:02}", day.year(), day.month()),
            Rotation::Weekly => {
                let (y, w) = day.iso_week();
                format!("{y}-W{w:02}")
            }
            Rotation::Daily => crate::os::clock::format_day(day),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::clock::parse_day;

    #[test]
    fn periods_and_strictness() {
        let d = parse_day("2026-11-25").unwrap();
        assert_eq!(Rotation::Monthly.period(d).unwrap(), "2026-11");
        assert_eq!(Rotation::Weekly.period(d).unwrap(), "2026-W48");
        assert_eq!(Rotation::Never.period(d), None);
        assert_eq!(
            Rotation::stricter(Some(Rotation::Yearly), Some(Rotation::Monthly)),
            Some(Rotation::Monthly)
        );
        assert_eq!(
            Rotation::stricter(None, Some(Rotation::Weekly)),
            Some(Rotation::Weekly)
        );
    }
}
