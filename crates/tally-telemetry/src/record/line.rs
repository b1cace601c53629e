//! One spool line: what it counts ([`Row`]), its count and histogram
//! ([`Line`]), and its JSON shape on disk, where the row's fields sit beside
//! the line's own under the kind `"k"`:
//! `{"v":2,"day":"2026-11-20","k":"command","name":"build","outcome":"success","n":3,"lat":[…]}`.
//!
//! The shape is written and read through one flat struct rather than serde's
//! `flatten` of an internally tagged enum: that pair buffers every line
//! through serde's generic `Content` tree, which put about 40 KB of code
//! into every host's binary (the embedding size budget) and an allocation per
//! field into every parse.

use std::borrow::Cow;

use serde::de::{Error as _, IntoDeserializer, value::StrDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::schema::{
    CommandOutcome, ErrorClass, LATENCY_BUCKETS, LifecycleKind, Outcome, SCHEMA_VERSION,
};

/// What a spool line counts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Row {
    /// Runs of a command path with one outcome (its duration histogram is
    /// in `lat`).
    Command {
        /// The path.
        name: String,
        /// How the runs ended; absent in lines of schema version 1.
        outcome: Option<CommandOutcome>,
        /// The declared argument's value (`Builder::record_value`), one of
        /// its closed set; on disk as `"value"`, a key of its own: a
        /// version that predates it drops the key when it rewrites the
        /// spool, so its runs count under the command alone, never under
        /// another line's value (as they would under a key it knew, such
        /// as facts' `"val"`, which it does not merge by).
        value: Option<String>,
    },
    /// MCP tool calls with one outcome.
    Tool {
        /// The tool name, when recorded.
        name: Option<String>,
        /// The outcome.
        outcome: Outcome,
        /// The protocol error class.
        class: Option<ErrorClass>,
    },
    /// Sessions from an MCP client.
    Client {
        /// The allowlisted client name.
        name: String,
        /// Its major version.
        major: Option<u64>,
    },
    /// A lifecycle event.
    Lifecycle {
        /// Which.
        kind: LifecycleKind,
    },
    /// A deployment fact (its value is in `val`).
    Fact {
        /// The fact's field name.
        name: String,
    },
    /// Rows lost locally.
    Dropped,
}

/// One spool line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Schema version that wrote it.
    pub v: u32,
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// What it counts.
    pub row: Row,
    /// The count.
    pub n: u64,
    /// Latency histogram, for tool rows; duration histogram, for commands.
    pub lat: Option<[u64; LATENCY_BUCKETS]>,
    /// The value, for fact rows (a command's value is in its [`Row`]).
    pub val: Option<String>,
    /// The batch id this line is claimed by, if any.
    pub b: Option<String>,
}

impl Line {
    /// A new, unclaimed line.
    pub fn new(day: &str, row: Row, n: u64) -> Self {
        Line {
            v: SCHEMA_VERSION,
            day: day.to_owned(),
            row,
            n,
            lat: None,
            val: None,
            b: None,
        }
    }

    pub(crate) fn key(&self) -> (String, Row, Option<String>) {
        (self.day.clone(), self.row.clone(), self.b.clone())
    }

    pub(crate) fn absorb(&mut self, other: Line) {
        if let Row::Fact { .. } = self.row {
            // Facts are state, not counts: the later line wins.
            self.val = other.val;
            return;
        }
        self.n = self.n.saturating_add(other.n);
        if let (Some(a), Some(b)) = (self.lat.as_mut(), other.lat) {
            for (x, y) in a.iter_mut().zip(b) {
                *x = x.saturating_add(y);
            }
        } else if self.lat.is_none() {
            self.lat = other.lat;
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        // Serialising these plain structs cannot fail.
        let _ = serde_json::to_writer(&mut *out, self);
        out.push(b'\n');
    }
}

/// The kind of a row, as `"k"` on disk.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Command,
    Tool,
    Client,
    Lifecycle,
    Fact,
    Dropped,
}

/// A line as it is on disk: every field any row has, in the order the
/// lines have always been written.
#[derive(Serialize, Deserialize)]
struct Flat<'a> {
    v: u32,
    day: Cow<'a, str>,
    k: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    class: Option<ErrorClass>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    major: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<LifecycleKind>,
    n: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lat: Option<[u64; LATENCY_BUCKETS]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    val: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    b: Option<Cow<'a, str>>,
}

impl Serialize for Line {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut flat = Flat {
            v: self.v,
            day: Cow::Borrowed(&self.day),
            k: Kind::Dropped,
            name: None,
            outcome: None,
            class: None,
            major: None,
            kind: None,
            n: self.n,
            lat: self.lat,
            val: self.val.as_deref().map(Cow::Borrowed),
            value: None,
            b: self.b.as_deref().map(Cow::Borrowed),
        };
        match &self.row {
            Row::Command {
                name,
                outcome,
                value,
            } => {
                flat.k = Kind::Command;
                flat.name = Some(Cow::Borrowed(name));
                flat.outcome = outcome.map(|o| Cow::Borrowed(o.as_str()));
                flat.value = value.as_deref().map(Cow::Borrowed);
            }
            Row::Tool {
                name,
                outcome,
                class,
            } => {
                flat.k = Kind::Tool;
                flat.name = name.as_deref().map(Cow::Borrowed);
                flat.outcome = Some(Cow::Borrowed(outcome.as_str()));
                flat.class = *class;
            }
            Row::Client { name, major } => {
                flat.k = Kind::Client;
                flat.name = Some(Cow::Borrowed(name));
                flat.major = *major;
            }
            Row::Lifecycle { kind } => {
                flat.k = Kind::Lifecycle;
                flat.kind = Some(*kind);
            }
            Row::Fact { name } => {
                flat.k = Kind::Fact;
                flat.name = Some(Cow::Borrowed(name));
            }
            Row::Dropped => {}
        }
        flat.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Line {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = Flat::deserialize(d)?;
        let name = f.name.map(Cow::into_owned);
        let named = |name: Option<String>| name.ok_or_else(|| D::Error::missing_field("name"));
        // The outcome words are the enums' own serde names.
        fn word<'x, T: Deserialize<'x>, E: serde::de::Error>(w: &'x str) -> Result<T, E> {
            let d: StrDeserializer<'x, E> = w.into_deserializer();
            T::deserialize(d)
        }
        let outcome = f.outcome.as_deref();
        let row = match f.k {
            Kind::Command => Row::Command {
                name: named(name)?,
                outcome: outcome.map(word::<CommandOutcome, _>).transpose()?,
                value: f.value.map(Cow::into_owned),
            },
            Kind::Tool => Row::Tool {
                name,
                outcome: word(outcome.ok_or_else(|| D::Error::missing_field("outcome"))?)?,
                class: f.class,
            },
            Kind::Client => Row::Client {
                name: named(name)?,
                major: f.major,
            },
            Kind::Lifecycle => Row::Lifecycle {
                kind: f.kind.ok_or_else(|| D::Error::missing_field("kind"))?,
            },
            Kind::Fact => Row::Fact { name: named(name)? },
            Kind::Dropped => Row::Dropped,
        };
        Ok(Line {
            v: f.v,
            day: f.day.into_owned(),
            row,
            n: f.n,
            lat: f.lat,
            val: f.val.map(Cow::into_owned),
            b: f.b.map(Cow::into_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of row, as the derive that wrote spools before this file
    /// (serde's `flatten` of the tagged enum) encoded it, byte for byte.
    const WRITTEN_BEFORE: &str = r#"{"v":2,"day":"2026-11-20","k":"command","name":"build","n":1}
{"v":2,"day":"2026-11-20","k":"command","name":"cache clean","outcome":"failure","n":2,"lat":[1,1,1,1,1,1,1]}
{"v":2,"day":"2026-11-20","k":"tool","outcome":"ok","n":3}
{"v":2,"day":"2026-11-20","k":"tool","name":"search","outcome":"protocol_error","class":"invalid_params","n":4,"b":"67e55044-10b1-426f-9247-bb680e5fe0c8"}
{"v":2,"day":"2026-11-20","k":"client","name":"claude-code","major":2,"n":5}
{"v":2,"day":"2026-11-20","k":"client","name":"other","n":6}
{"v":2,"day":"2026-11-20","k":"lifecycle","kind":"install","n":7}
{"v":2,"day":"2026-11-20","k":"fact","name":"ci","n":8,"val":"github_actions"}
{"v":2,"day":"2026-11-20","k":"dropped","n":9}
"#;

    fn every_kind() -> Vec<Line> {
        let day = "2026-11-20";
        let mut lines = vec![
            Line::new(
                day,
                Row::Command {
                    name: "build".into(),
                    outcome: None,
                    value: None,
                },
                1,
            ),
            Line::new(
                day,
                Row::Command {
                    name: "cache clean".into(),
                    outcome: Some(CommandOutcome::Failure),
                    value: None,
                },
                2,
            ),
            Line::new(
                day,
                Row::Tool {
                    name: None,
                    outcome: Outcome::Ok,
                    class: None,
                },
                3,
            ),
            Line::new(
                day,
                Row::Tool {
                    name: Some("search".into()),
                    outcome: Outcome::ProtocolError,
                    class: Some(ErrorClass::InvalidParams),
                },
                4,
            ),
            Line::new(
                day,
                Row::Client {
                    name: "claude-code".into(),
                    major: Some(2),
                },
                5,
            ),
            Line::new(
                day,
                Row::Client {
                    name: "other".into(),
                    major: None,
                },
                6,
            ),
            Line::new(
                day,
                Row::Lifecycle {
                    kind: LifecycleKind::Install,
                },
                7,
            ),
            Line::new(day, Row::Fact { name: "ci".into() }, 8),
            Line::new(day, Row::Dropped, 9),
        ];
        lines[1].lat = Some([1; LATENCY_BUCKETS]);
        lines[3].b = Some("67e55044-10b1-426f-9247-bb680e5fe0c8".into());
        lines[7].val = Some("github_actions".into());
        lines
    }

    #[test]
    fn lines_are_written_and_read_as_before() {
        let lines = every_kind();
        let mut out = Vec::new();
        for l in &lines {
            l.encode(&mut out);
        }
        assert_eq!(String::from_utf8(out).unwrap(), WRITTEN_BEFORE);
        let read: Vec<Line> = WRITTEN_BEFORE
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(read, lines);
    }

    #[test]
    fn a_command_value_is_written_under_its_own_key_and_keeps_its_own_line() {
        let mut l = Line::new(
            "2026-11-20",
            Row::Command {
                name: "init".into(),
                outcome: Some(CommandOutcome::Success),
                value: Some("bash".into()),
            },
            2,
        );
        l.lat = Some([2, 0, 0, 0, 0, 0, 0]);
        let mut out = Vec::new();
        l.encode(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"v\":2,\"day\":\"2026-11-20\",\"k\":\"command\",\"name\":\"init\",\"outcome\":\"success\",\"n\":2,\"lat\":[2,0,0,0,0,0,0],\"value\":\"bash\"}\n"
        );
        let back: Line = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(back, l);
        assert_eq!(back.val, None);
        // Two values of one command are two rows, and neither is the
        // command without a value.
        let mut zsh = l.clone();
        zsh.row = Row::Command {
            name: "init".into(),
            outcome: Some(CommandOutcome::Success),
            value: Some("zsh".into()),
        };
        assert_ne!(l.key(), zsh.key());
    }

    #[test]
    fn a_line_missing_what_its_kind_needs_is_refused() {
        for bad in [
            r#"{"v":2,"day":"2026-11-20","k":"command","n":1}"#,
            r#"{"v":2,"day":"2026-11-20","k":"tool","n":1}"#,
            r#"{"v":2,"day":"2026-11-20","k":"tool","outcome":"failure","n":1}"#,
            r#"{"v":2,"day":"2026-11-20","k":"command","name":"b","outcome":"ok","n":1}"#,
            r#"{"v":2,"day":"2026-11-20","k":"lifecycle","n":1}"#,
            r#"{"v":2,"day":"2026-11-20","k":"fact","n":1}"#,
            r#"{"v":2,"day":"2026-11-20","k":"client","n":1}"#,
            r#"{"v":2,"day":"2026-11-20","k":"nonsense","n":1}"#,
            r#"{"v":2,"day":"2026-11-20","name":"build","n":1}"#,
            r#"{"v":2,"day":"2026-11-20","k":"dropped"}"#,
        ] {
            assert!(serde_json::from_str::<Line>(bad).is_err(), "{bad}");
        }
        // Fields another kind uses are ignored, as unknown fields always were.
        let l: Line =
            serde_json::from_str(r#"{"v":2,"day":"2026-11-20","k":"dropped","name":"x","n":1}"#)
                .unwrap();
        assert_eq!(l.row, Row::Dropped);
    }
}
