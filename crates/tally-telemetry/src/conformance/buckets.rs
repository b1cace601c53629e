//! Bucket cases: outcome, duration, latency, count and uptime buckets, as
//! the schema's normalization computes them from raw numbers.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Case;
use crate::schema::{self, CommandOutcome, normalize};

/// A bucket case: `outcome` (an exit code to a command outcome),
/// `duration` and `latency` (milliseconds to a bucket index), `count` and
/// `uptime` (a number to a bucket word).
#[derive(Serialize, Deserialize)]
pub struct Bucket {
    kind: String,
    input: i64,
    want: Value,
}

impl Case for Bucket {
    type Want = Value;
    fn name(&self) -> &str {
        &self.kind
    }
    fn want(&self) -> &Value {
        &self.want
    }
}

pub fn run_bucket(c: &Bucket) -> Result<Value, String> {
    let n = c.input;
    let u = u64::try_from(n).map_err(|_| format!("{n} is negative"));
    Ok(match c.kind.as_str() {
        "outcome" => {
            let code = i32::try_from(n).map_err(|e| e.to_string())?;
            json!(CommandOutcome::from_exit_code(code).as_str())
        }
        "duration" => json!(normalize::duration_bucket(Duration::from_millis(u?))),
        "latency" => json!(normalize::latency_bucket(Duration::from_millis(u?))),
        "count" => json!(normalize::count_bucket(u?)),
        "uptime" => json!(normalize::uptime_bucket(u?)),
        other => return Err(format!("unknown bucket kind {other:?}")),
    })
}

pub fn bucket_cases() -> Vec<Bucket> {
    let mut inputs: Vec<(&str, Vec<i64>)> = vec![
        (
            "outcome",
            vec![
                0, 1, 2, 3, 64, 126, 127, 128, 129, 130, 131, 137, 143, 255, -1,
            ],
        ),
        ("count", vec![0, 1, 2, 5, 6, 10, 11, 50, 51, 1_000_000]),
        (
            "uptime",
            vec![0, 3599, 3600, 86_399, 86_400, 604_799, 604_800, 10_000_000],
        ),
    ];
    let edges = |bounds: &[u64]| -> Vec<i64> {
        let mut v = vec![0];
        for &b in bounds {
            let b = b as i64;
            v.extend([b - 1, b]);
        }
        v.push(86_400_000);
        v
    };
    inputs.push(("duration", edges(&schema::DURATION_BOUNDS_MS)));
    inputs.push(("latency", edges(&schema::LATENCY_BOUNDS_MS)));
    inputs
        .into_iter()
        .flat_map(|(kind, ns)| ns.into_iter().map(move |input| (kind, input)))
        .map(|(kind, input)| {
            let mut c = Bucket {
                kind: kind.into(),
                input,
                want: Value::Null,
            };
            c.want = run_bucket(&c).expect("a known kind");
            c
        })
        .collect()
}
