//! Store-only benchmark: how many validated ~1 KB batches per second the
//! writer path commits (no HTTP), in groups like the server's group commit.
//! Isolates SQLite costs from the network and the validator.
//!
//! ```text
//! cargo bench --bench store -- [--batches 200000] [--group 512] [--sync full|normal]
//! ```

use std::time::Instant;

use tally_cli::server::store::{Durability, Store};
use tally_telemetry::schema::validate::{Validated, validate};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn body(day: &str, seq: u64) -> Vec<u8> {
    let commands: Vec<String> = [
        "build",
        "run",
        "config otel get",
        "list",
        "serve",
        "logs",
        "version",
        "init",
    ]
    .iter()
    .enumerate()
    .map(|(i, c)| {
        format!(
            r#"{{"command":"{c}","count":{}}}"#,
            1 + (seq + i as u64) % 17
        )
    })
    .collect();
    format!(
        concat!(
            r#"{{"envelope":{{"app":"benchtool","app_version":"2.{}.0","os":"linux","arch":"x86_64","ci":false,"schema":1,"#,
            r#""machine_id":"{}","batch_id":"{}"}},"events":[{{"type":"usage_rollup","day":"{}","commands":[{}],"#,
            r#""tool_calls":[{{"tool":"search","outcome":"ok","count":9,"latency":[7,1,1,0,0,0,0]}},"#,
            r#"{{"tool":"fetch","outcome":"ok","count":4,"latency":[3,1,0,0,0,0,0]}},"#,
            r#"{{"outcome":"protocol_error","error_class":"invalid_params","count":2,"latency":[2,0,0,0,0,0,0]}}],"#,
            r#""clients":[{{"client":"cursor","major":1,"count":2}}]}},"#,
            r#"{{"type":"facts","day":"{}","auth_type":"oidc","backend_count":"2-5"}}]}}"#
        ),
        seq % 5,
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        day,
        commands.join(","),
        day
    )
    .into_bytes()
}

fn main() {
    let n: u64 = arg("--batches").map_or(200_000, |v| v.parse().unwrap());
    let group: usize = arg("--group").map_or(512, |v| v.parse().unwrap());
    let durability = match arg("--sync").as_deref() {
        Some("normal") => Durability::Normal,
        _ => Durability::Full,
    };
    let today = tally_telemetry::schema::Timestamp::now().date();
    let day = tally_telemetry::schema::format_day(today - 1);
    let batches: Vec<Validated> = (0..n)
        .map(|i| validate(&body(&day, i), today).expect("valid"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("store.sqlite3"), durability).unwrap();
    let t = Instant::now();
    for chunk in batches.chunks(group) {
        let items: Vec<(&Validated, tally_telemetry::schema::Date)> =
            chunk.iter().map(|v| (v, today)).collect();
        store.ingest_group(&items).unwrap();
    }
    let took = t.elapsed().as_secs_f64();
    println!(
        "store: {n} batches in groups of {group}: {took:.2} s = {:.0} batches/s",
        n as f64 / took
    );
}
