//! Budgets for the host's hot path and its exit (DESIGN.md):
//! one `record_*` call ≤ 50 ns median with no syscalls, and the exit-time
//! append ≤ 100 µs. Run: `cargo bench --bench record`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tally::__private::consent::paths::Paths;
use tally::{CallOutcome, DefaultPolicy, Env, Telemetry};

fn record(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let t = Telemetry::builder("bench")
        .default_policy(DefaultPolicy::OptIn)
        .env(Env::from_pairs([("BENCH_TELEMETRY", "1")]))
        .paths(Paths::explicit(
            dir.path().join("config.toml"),
            dir.path().join("state"),
            dir.path().join("policy.toml"),
        ))
        .background_send(false)
        .init();
    assert!(t.enabled());
    let mut g = c.benchmark_group("record");
    g.bench_function("record_command", |b| {
        b.iter(|| tally::record_command(std::hint::black_box("config otel get")))
    });
    g.bench_function("record_tool_call", |b| {
        b.iter(|| {
            tally::record_tool_call(
                std::hint::black_box("search"),
                CallOutcome::Ok,
                Duration::from_micros(700),
            )
        })
    });
    // The worst case a peer can force: the map at its cap of distinct tool
    // names (MAX_NAMES), each as long as the schema allows (64 characters)
    // and sharing the first 61, so every comparison reads far.
    let names: Vec<String> = (0..tally::__private::record::recorder::MAX_NAMES)
        .map(|i| format!("{}_{i:03}", "workspace_search".repeat(4).split_at(60).0))
        .collect();
    let mut next = 0;
    g.bench_function("record_tool_call_256_names", |b| {
        b.iter(|| {
            next = (next + 97) % names.len();
            tally::record_tool_call(
                std::hint::black_box(&names[next]),
                CallOutcome::Ok,
                Duration::from_micros(700),
            )
        })
    });
    // What a typical exit persists: a couple of commands and a tool row.
    g.bench_function("exit_append", |b| {
        b.iter(|| {
            tally::record_command("build");
            tally::record_command("config otel get");
            tally::record_tool_call("", CallOutcome::Ok, Duration::from_millis(3));
            tally::persist();
        })
    });
    tally::__private::record::recorder::set_enabled(false);
    g.bench_function("record_command_disabled", |b| {
        b.iter(|| tally::record_command(std::hint::black_box("build")))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = record
}
criterion_main!(benches);
