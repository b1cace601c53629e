//! Budgets for the host's hot path and its exit (docs/DESIGN.md):
//! one `record_*` call ≤ 50 ns median with no syscalls, and the exit-time
//! append ≤ 100 µs. Run: `cargo bench --bench record`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tally_telemetry::{CallOutcome, DefaultPolicy, Env, Telemetry};

/// The recorder's cap on distinct names per kind.
const MAX_NAMES: usize = 256;

fn record(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    // The platform's config directory (where `telemetry off` below writes
    // the choice) comes from the process's HOME; keep it in the temp dir.
    // SAFETY: set before criterion or anything else starts a thread.
    unsafe {
        std::env::set_var("HOME", dir.path());
        std::env::set_var("XDG_CONFIG_HOME", dir.path().join("config"));
    }
    // The state goes to a temporary directory through the variable a
    // container would set; the consent comes from the environment.
    let t = Telemetry::builder("bench")
        .default_policy(DefaultPolicy::OptIn)
        .policy_file(dir.path().join("policy.toml"))
        .env(Env::from_pairs([
            ("BENCH_TELEMETRY", "1".to_owned()),
            (
                "BENCH_TELEMETRY_DIR",
                dir.path().join("state").display().to_string(),
            ),
        ]))
        .background_send(false)
        .init();
    assert!(t.enabled());
    let mut g = c.benchmark_group("record");
    g.bench_function("record_command", |b| {
        b.iter(|| tally_telemetry::record_command(std::hint::black_box("config otel get")))
    });
    g.bench_function("record_tool_call", |b| {
        b.iter(|| {
            tally_telemetry::record_tool_call(
                std::hint::black_box("search"),
                CallOutcome::Ok,
                Duration::from_micros(700),
            )
        })
    });
    // The worst case a peer can force: the map at its cap of distinct tool
    // names (MAX_NAMES), each as long as the schema allows (64 characters)
    // and sharing the first 61, so every comparison reads far.
    let names: Vec<String> = (0..MAX_NAMES)
        .map(|i| format!("{}_{i:03}", "workspace_search".repeat(4).split_at(60).0))
        .collect();
    let mut next = 0;
    g.bench_function("record_tool_call_256_names", |b| {
        b.iter(|| {
            next = (next + 97) % names.len();
            tally_telemetry::record_tool_call(
                std::hint::black_box(&names[next]),
                CallOutcome::Ok,
                Duration::from_micros(700),
            )
        })
    });
    // What a typical exit persists: a couple of commands and a tool row.
    g.bench_function("exit_append", |b| {
        b.iter(|| {
            tally_telemetry::record_command("build");
            tally_telemetry::record_command("config otel get");
            tally_telemetry::record_tool_call("", CallOutcome::Ok, Duration::from_millis(3));
            tally_telemetry::persist();
        })
    });
    // Off from here on, as `telemetry off` in another process would make it.
    t.set_enabled_choice(false).unwrap();
    assert!(!tally_telemetry::is_recording());
    g.bench_function("record_command_disabled", |b| {
        b.iter(|| tally_telemetry::record_command(std::hint::black_box("build")))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = record
}
criterion_main!(benches);
