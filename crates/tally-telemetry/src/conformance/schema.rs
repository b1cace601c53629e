//! Schema validation cases: batches validated as `tally serve` validates
//! them (kept, with what was dropped, or rejected with the reason the 400
//! carries). The buckets and names are in `buckets.rs` and `names.rs`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Case;
use crate::schema::{self, validate};

/// A batch validation case.
#[derive(Serialize, Deserialize)]
pub struct Validation {
    name: String,
    /// The server's day (events older than 30 days or in the future drop).
    today: String,
    /// The request body.
    body: String,
    want: Validity,
}

/// What validation decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validity {
    valid: bool,
    /// Why the batch was rejected (the 400's reason, without a JSON
    /// parser's own words after `body is not JSON`), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Events kept, if it was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    events: Option<usize>,
    /// What was dropped, by class, if it was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dropped: Option<Dropped>,
}

/// What validation dropped from an accepted batch, by class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    unknown_events: u64,
    unknown_fields: u64,
    invalid_values: u64,
    out_of_window: u64,
}

impl Case for Validation {
    type Want = Validity;
    fn name(&self) -> &str {
        &self.name
    }
    fn want(&self) -> &Validity {
        &self.want
    }
}

pub fn run_validation(c: &Validation) -> Result<Validity, String> {
    let today = schema::parse_day(&c.today).ok_or("today is not a day")?;
    Ok(match validate::validate(c.body.as_bytes(), today) {
        Ok(v) => Validity {
            valid: true,
            reason: None,
            events: Some(v.batch.events.len()),
            dropped: Some(Dropped {
                unknown_events: v.drops.unknown_events,
                unknown_fields: v.drops.unknown_fields,
                invalid_values: v.drops.invalid_values,
                out_of_window: v.drops.out_of_window,
            }),
        },
        Err(r) => Validity {
            valid: false,
            // A JSON parser's own words follow the colon, and differ
            // between languages.
            reason: Some(match r.0.split_once(": ") {
                Some((head @ "body is not JSON", _)) => head.to_owned(),
                _ => r.0,
            }),
            events: None,
            dropped: None,
        },
    })
}

const MACHINE: &str = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const BATCH: &str = "0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a";

fn envelope() -> Value {
    json!({"app": "demo", "app_version": "1.4.2", "os": "linux", "arch": "x86_64", "ci": false,
           "schema": 2, "machine_id": MACHINE, "batch_id": BATCH})
}

fn with_envelope(key: &str, value: Value) -> Value {
    let mut e = envelope();
    e[key] = value;
    e
}

fn batch(envelope: Value, events: Value) -> String {
    json!({"envelope": envelope, "events": events}).to_string()
}

fn rollup(commands: Value) -> Value {
    json!({"type": "usage_rollup", "day": "2026-11-20", "commands": commands})
}

pub fn validation_cases() -> Vec<Validation> {
    let ok_cmd = json!([{"command": "build", "outcome": "success", "count": 2, "duration": [2,0,0,0,0,0,0]}]);
    let full = json!([
        {"type": "usage_rollup", "day": "2026-11-20",
         "commands": [{"command": "config otel get", "outcome": "failure", "count": 1, "duration": [0,0,0,1,0,0,0]}],
         "tool_calls": [{"tool": "search", "outcome": "protocol_error", "error_class": "invalid_params", "count": 1, "latency": [0,0,0,0,0,0,1]},
                        {"outcome": "ok", "count": 3, "latency": [1,1,1,0,0,0,0]}],
         "clients": [{"client": "claude-code", "major": 2, "count": 2}],
         "dropped": 4},
        {"type": "lifecycle", "kind": "install", "day": "2026-11-20", "count": 1},
        {"type": "facts", "day": "2026-11-20", "backend_count": "2-5", "auth_type": "oidc", "declares_tools": true}
    ]);
    let many: Vec<Value> = (0..65).map(|_| rollup(ok_cmd.clone())).collect();
    let rows: Vec<(&str, String)> = vec![
        (
            "a minimal batch",
            batch(envelope(), json!([rollup(ok_cmd.clone())])),
        ),
        ("every event type", batch(envelope(), full)),
        ("no events", batch(envelope(), json!([]))),
        (
            "a schema 1 command without outcome or duration",
            batch(
                with_envelope("schema", json!(1)),
                json!([rollup(json!([{"command": "build", "count": 1}]))]),
            ),
        ),
        (
            "an unknown event type is dropped",
            batch(
                envelope(),
                json!([rollup(ok_cmd.clone()), {"type": "keystrokes", "day": "2026-11-20"}]),
            ),
        ),
        (
            "an unknown field is dropped",
            batch(
                envelope(),
                json!([rollup(
                    json!([{"command": "build", "outcome": "success", "count": 1, "duration": [1,0,0,0,0,0,0], "argv": "--token x"}])
                )]),
            ),
        ),
        (
            "a path as a command is dropped",
            batch(
                envelope(),
                json!([rollup(
                    json!([{"command": "/home/alice", "outcome": "success", "count": 1, "duration": [1,0,0,0,0,0,0]}])
                )]),
            ),
        ),
        (
            "five words is not a command path",
            batch(
                envelope(),
                json!([rollup(
                    json!([{"command": "a b c d e", "outcome": "success", "count": 1, "duration": [1,0,0,0,0,0,0]}])
                )]),
            ),
        ),
        (
            "an unknown outcome is dropped",
            batch(
                envelope(),
                json!([rollup(
                    json!([{"command": "build", "outcome": "exploded", "count": 1}])
                )]),
            ),
        ),
        (
            "a count over the cap is dropped",
            batch(
                envelope(),
                json!([rollup(
                    json!([{"command": "build", "count": 1000000001u64}])
                )]),
            ),
        ),
        (
            "an unknown client is dropped",
            batch(
                envelope(),
                json!([{"type": "usage_rollup", "day": "2026-11-20", "clients": [{"client": "my-secret-client", "count": 1}]}]),
            ),
        ),
        (
            "a fact outside its allowlist is dropped",
            batch(
                envelope(),
                json!([{"type": "facts", "day": "2026-11-20", "auth_type": "kerberos"}]),
            ),
        ),
        (
            "a day too old is out of the window",
            batch(
                envelope(),
                json!([{"type": "lifecycle", "kind": "install", "day": "2026-09-01", "count": 1}]),
            ),
        ),
        (
            "a day in the future is out of the window",
            batch(
                envelope(),
                json!([{"type": "lifecycle", "kind": "install", "day": "2026-11-23", "count": 1}]),
            ),
        ),
        ("not JSON", "{\"envelope\":".into()),
        ("not an object", "[]".into()),
        ("no envelope", json!({"events": []}).to_string()),
        ("no events", json!({"envelope": envelope()}).to_string()),
        ("events not an array", batch(envelope(), json!({}))),
        ("an event not an object", batch(envelope(), json!([1]))),
        (
            "an event without a type",
            batch(envelope(), json!([{"day": "2026-11-20"}])),
        ),
        (
            "an envelope without a machine id",
            batch(
                {
                    let mut e = envelope();
                    e.as_object_mut().map(|o| o.remove("machine_id"));
                    e
                },
                json!([]),
            ),
        ),
        (
            "a machine id that is not a UUID",
            batch(
                with_envelope("machine_id", json!("alice@laptop")),
                json!([]),
            ),
        ),
        (
            "an unknown schema version",
            batch(with_envelope("schema", json!(3)), json!([])),
        ),
        (
            "an unknown OS",
            batch(with_envelope("os", json!("plan9")), json!([])),
        ),
        (
            "an app name in capitals",
            batch(with_envelope("app", json!("Demo")), json!([])),
        ),
        (
            "a machine id in capitals is a UUID",
            batch(
                with_envelope("machine_id", json!(MACHINE.to_uppercase())),
                json!([]),
            ),
        ),
        (
            "a machine id with spaces is not",
            batch(
                with_envelope("machine_id", json!(format!(" {MACHINE}"))),
                json!([]),
            ),
        ),
        (
            "buckets that do not add up to the count are dropped",
            batch(
                envelope(),
                json!([rollup(
                    json!([{"command": "build", "outcome": "success", "count": 2, "duration": [1,0,0,0,0,0,0]}])
                )]),
            ),
        ),
        (
            "all-zero buckets are no histogram",
            batch(
                envelope(),
                json!([rollup(
                    json!([{"command": "build", "outcome": "success", "count": 2, "duration": [0,0,0,0,0,0,0]}])
                )]),
            ),
        ),
        (
            "a float count",
            batch(
                envelope(),
                json!([rollup(json!([{"command": "build", "count": 2.5}]))]),
            ),
        ),
        (
            "counts over the batch cap",
            batch(
                envelope(),
                json!([{"type": "lifecycle", "kind": "install", "day": "2026-11-20", "count": 1000000000u64}, {"type": "lifecycle", "kind": "upgrade", "day": "2026-11-20", "count": 1}]),
            ),
        ),
        (
            "an unknown top-level key is dropped",
            json!({"envelope": envelope(), "events": [], "extra": 1}).to_string(),
        ),
        (
            "null is no value",
            batch(
                envelope(),
                json!([{"type": "facts", "day": "2026-11-20", "auth_type": null}]),
            ),
        ),
        (
            "a count of the wrong type",
            batch(
                envelope(),
                json!([rollup(json!([{"command": "build", "count": "2"}]))]),
            ),
        ),
        ("more than 64 events", batch(envelope(), Value::Array(many))),
        (
            "a command's value splits its runs, and equal values merge",
            batch(
                envelope(),
                json!([rollup(json!([
                    {"command": "init", "value": "bash", "outcome": "success", "count": 2, "duration": [2,0,0,0,0,0,0]},
                    {"command": "init", "value": "zsh", "outcome": "success", "count": 1, "duration": [1,0,0,0,0,0,0]},
                    {"command": "init", "value": "bash", "outcome": "success", "count": 1, "duration": [0,1,0,0,0,0,0]},
                    {"command": "init", "outcome": "success", "count": 4, "duration": [4,0,0,0,0,0,0]}
                ]))]),
            ),
        ),
        (
            "a value that is not one lower-case word is dropped and its runs kept",
            batch(
                envelope(),
                json!([rollup(json!([
                    {"command": "init", "value": "/home/alice/.bashrc", "outcome": "success", "count": 1},
                    {"command": "init", "value": "Bash", "outcome": "success", "count": 1},
                    {"command": "init", "value": "two words", "outcome": "success", "count": 1},
                    {"command": "init", "value": "", "outcome": "success", "count": 1},
                    {"command": "init", "value": "-x", "outcome": "success", "count": 1},
                    {"command": "init", "value": "a".repeat(33), "outcome": "success", "count": 1},
                    {"command": "init", "value": "a".repeat(32), "outcome": "success", "count": 1},
                    {"command": "init", "value": "pwsh_7-x", "outcome": "success", "count": 1}
                ]))]),
            ),
        ),
        (
            "a value of the wrong type",
            batch(
                envelope(),
                json!([rollup(json!([{"command": "init", "value": 7, "count": 1}]))]),
            ),
        ),
    ];
    rows.into_iter()
        .map(|(name, body)| {
            let mut c = Validation {
                name: name.into(),
                today: "2026-11-21".into(),
                body,
                want: Validity {
                    valid: false,
                    reason: None,
                    events: None,
                    dropped: None,
                },
            };
            c.want = run_validation(&c).expect("today is a day");
            c
        })
        .collect()
}
