//! Unit tests of the server-side validation: what a batch must be to be
//! stored, and what is dropped or refused with which reason.

use super::*;
use crate::schema::*;
use serde_json::json;

fn today() -> Date {
    crate::os::clock::parse_day("2026-11-21").unwrap()
}

fn full_batch() -> Batch {
    Batch {
        envelope: Envelope {
            app: "demo".into(),
            app_version: "1.2.3".into(),
            os: "linux".into(),
            arch: "x86_64".into(),
            ci: false,
            schema: SCHEMA_VERSION,
            machine_id: crate::os::random::uuid().to_string(),
            batch_id: crate::os::random::uuid().to_string(),
        },
        events: vec![
            Event::UsageRollup(UsageRollup {
                day: "2026-11-20".into(),
                commands: vec![CommandCount {
                    command: "config otel get".into(),
                    value: Some("json".into()),
                    outcome: None,
                    duration: None,
                    count: 3,
                }],
                tool_calls: vec![ToolCallCount {
                    tool: Some("search".into()),
                    outcome: Outcome::ProtocolError,
                    error_class: Some(ErrorClass::InvalidParams),
                    count: 2,
                    latency: [1, 1, 0, 0, 0, 0, 0],
                }],
                clients: vec![ClientCount {
                    client: "cursor".into(),
                    major: Some(1),
                    count: 1,
                }],
                dropped: 4,
            }),
            Event::Lifecycle(Lifecycle {
                kind: LifecycleKind::Upgrade,
                day: "2026-11-20".into(),
                count: 1,
            }),
            Event::Facts(Facts {
                day: "2026-11-20".into(),
                backend_count: Some("2-5".into()),
                auth_type: Some("oidc".into()),
                conflict_strategy: Some("prefix".into()),
                uptime: Some("1-24h".into()),
                sessions: Some("1".into()),
                protocol_version: Some("2025-06-18".into()),
                declares_tools: Some(true),
                declares_resources: Some(false),
                declares_prompts: Some(false),
            }),
        ],
    }
}

/// The typed structs and the table must describe the same thing: a batch
/// using every field passes unchanged.
#[test]
fn every_typed_field_is_in_the_table() {
    let batch = full_batch();
    let body = serde_json::to_vec(&batch).unwrap();
    let v = validate(&body, today()).unwrap();
    assert_eq!(v.drops, Drops::default());
    assert_eq!(v.batch, batch);
}

#[test]
fn unknown_things_are_stripped_and_counted() {
    let mut v = serde_json::to_value(full_batch()).unwrap();
    v["hostname"] = json!("secret-host");
    v["envelope"]["user"] = json!("alice");
    v["events"][0]["commands"][0]["args"] = json!("--password hunter2");
    v["events"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "keystrokes", "day": "2026-11-20"}));
    v["events"][0]["commands"]
        .as_array_mut()
        .unwrap()
        .push(json!({"command": "/home/alice", "count": 1}));
    let out = validate_value(v, today()).unwrap();
    assert_eq!(out.drops.unknown_fields, 3);
    assert_eq!(out.drops.unknown_events, 1);
    assert_eq!(
        out.drops.invalid_values, 2,
        "the bad command value and its row"
    );
    let text = serde_json::to_string(&out.batch).unwrap();
    for secret in ["secret-host", "alice", "hunter2", "keystrokes"] {
        assert!(!text.contains(secret), "{secret} survived: {text}");
    }
}

#[test]
fn wrong_types_reject() {
    let mut v = serde_json::to_value(full_batch()).unwrap();
    v["events"][0]["commands"][0]["count"] = json!("3");
    let e = validate_value(v, today()).unwrap_err();
    assert!(e.0.contains("count"), "{e}");
    assert!(validate(b"[]", today()).is_err());
    assert!(validate(b"{", today()).is_err());
    let mut v = serde_json::to_value(full_batch()).unwrap();
    v["envelope"]["machine_id"] = json!("not-a-uuid");
    assert!(validate_value(v, today()).is_err());
}

#[test]
fn days_outside_the_window_are_dropped() {
    let mut v = serde_json::to_value(full_batch()).unwrap();
    v["events"][0]["day"] = json!("2026-10-01");
    v["events"][1]["day"] = json!("2026-11-25");
    let out = validate_value(v, today()).unwrap();
    assert_eq!(out.drops.out_of_window, 2);
    assert_eq!(out.batch.events.len(), 1);
}

/// Regression: one command repeated 1,536 times at the 1e9 item limit
/// stored 1.536e12 from a single batch.
#[test]
fn duplicate_items_merge_and_a_batch_cannot_exceed_its_total() {
    let mut v = serde_json::to_value(full_batch()).unwrap();
    let twice = json!([
        {"command": "build", "count": 2},
        {"command": "build", "count": 3},
        {"command": "test", "count": 1}
    ]);
    v["events"][0]["commands"] = twice;
    v["events"][0]["tool_calls"] = json!([
        {"tool": "search", "outcome": "ok", "count": 2, "latency": [2, 0, 0, 0, 0, 0, 0]},
        {"tool": "search", "outcome": "ok", "count": 1, "latency": [0, 1, 0, 0, 0, 0, 0]},
        {"tool": "search", "outcome": "tool_error", "count": 1, "latency": [1, 0, 0, 0, 0, 0, 0]}
    ]);
    let out = validate_value(v, today()).unwrap();
    let Event::UsageRollup(r) = &out.batch.events[0] else {
        panic!()
    };
    let cmds: Vec<(&str, u64)> = r
        .commands
        .iter()
        .map(|c| (c.command.as_str(), c.count))
        .collect();
    assert_eq!(cmds, [("build", 5), ("test", 1)]);
    assert_eq!(r.tool_calls.len(), 2);
    assert_eq!(r.tool_calls[0].count, 3);
    assert_eq!(r.tool_calls[0].latency, [2, 1, 0, 0, 0, 0, 0]);
    assert_eq!(out.drops, Drops::default(), "merging is not dropping");

    let mut v = serde_json::to_value(full_batch()).unwrap();
    let flood: Vec<_> = (0..1536)
        .map(|_| json!({"command": "build", "count": MAX_COUNT}))
        .collect();
    v["events"][0]["commands"] = json!(flood);
    let e = validate_value(v, today()).unwrap_err();
    assert!(e.0.contains("add up to more than"), "{e}");

    let mut v = serde_json::to_value(full_batch()).unwrap();
    v["events"][0]["commands"] = json!([{"command": "build", "count": MAX_COUNT}]);
    let e = validate_value(v, today()).unwrap_err();
    assert!(e.0.contains("add up"), "the other counts push it over: {e}");

    // Two items of 1e9 merge into one, and are counted as sent: 2e9.
    let mut v = serde_json::to_value(full_batch()).unwrap();
    v["events"] = json!([{"type": "usage_rollup", "day": "2026-11-20", "commands": [
        {"command": "build", "count": MAX_COUNT},
        {"command": "build", "count": MAX_COUNT}
    ]}]);
    let e = validate_value(v, today()).unwrap_err();
    assert!(e.0.contains("add up to more than"), "{e}");
}

/// Regression: one batch stored 490 tool calls carrying 3.43e12 in
/// latency buckets (buckets were outside the cap), and an item of count
/// 1 with 7e9 in its buckets.
#[test]
fn buckets_must_add_up_to_their_count() {
    let mut v = serde_json::to_value(full_batch()).unwrap();
    v["events"] = json!([{"type": "usage_rollup", "day": "2026-11-20",
    "tool_calls": [
        {"tool": "a", "outcome": "ok", "count": 1, "latency": vec![MAX_COUNT; 7]},
        {"tool": "b", "outcome": "ok", "count": 3, "latency": [1, 2, 0, 0, 0, 0, 0]},
        {"tool": "c", "outcome": "ok", "count": 2, "latency": [0, 0, 0, 0, 0, 0, 0]},
        {"tool": "d", "outcome": "ok", "count": 2, "latency": [1, 0, 0, 0, 0, 0, 0]}
    ],
    "commands": [
        {"command": "x", "count": 2, "duration": [0, 2, 0, 0, 0, 0, 0]},
        {"command": "y", "count": 2, "duration": [0, 3, 0, 0, 0, 0, 0]}
    ]}]);
    let out = validate_value(v, today()).unwrap();
    let Event::UsageRollup(r) = &out.batch.events[0] else {
        panic!()
    };
    let tools: Vec<_> = r.tool_calls.iter().map(|t| t.tool.as_deref()).collect();
    assert_eq!(
        tools,
        [Some("b"), Some("c")],
        "no histogram (all 0) is fine"
    );
    let cmds: Vec<_> = r.commands.iter().map(|c| c.command.as_str()).collect();
    assert_eq!(cmds, ["x"]);
    assert_eq!(out.drops.invalid_values, 3);

    // Buckets that agree, 490 items near the cap: the batch total holds.
    let mut v = serde_json::to_value(full_batch()).unwrap();
    let many: Vec<_> = (0..490)
        .map(|i| {
            json!({"tool": format!("t{i}"), "outcome": "ok", "count": 7_000_000,
            "latency": [7_000_000, 0, 0, 0, 0, 0, 0]})
        })
        .collect();
    v["events"] = json!([{"type": "usage_rollup", "day": "2026-11-20", "tool_calls": many}]);
    let e = validate_value(v, today()).unwrap_err();
    assert!(e.0.contains("add up to more than"), "{e}");
}

#[test]
fn a_command_value_splits_its_counts_and_free_text_never_passes() {
    let item = |value: serde_json::Value, count: u64| {
        let mut c = json!({"command": "init", "outcome": "success", "count": count});
        if !value.is_null() {
            c["value"] = value;
        }
        c
    };
    let mut v = serde_json::to_value(full_batch()).unwrap();
    v["events"][0]["commands"] = json!([
        item(json!("bash"), 2),
        item(json!("bash"), 3),
        item(json!("zsh"), 1),
        item(json!(null), 4),
        // Free text, a path, upper case, too long: the value is refused and
        // the run is counted under the command alone.
        item(json!("/home/CANARY"), 1),
        item(json!("Bash"), 1),
        item(json!("x".repeat(33)), 1),
    ]);
    let out = validate_value(v, today()).unwrap();
    assert_eq!(out.drops.invalid_values, 3);
    let Event::UsageRollup(r) = &out.batch.events[0] else {
        panic!()
    };
    let mut got: Vec<(Option<&str>, u64)> = r
        .commands
        .iter()
        .map(|c| (c.value.as_deref(), c.count))
        .collect();
    got.sort();
    assert_eq!(got, [(None, 7), (Some("bash"), 5), (Some("zsh"), 1)]);
    let text = serde_json::to_string(&out.batch).unwrap();
    assert!(!text.contains("CANARY") && !text.contains("Bash"), "{text}");
    // A value of the wrong JSON type rejects the batch, as any field does.
    let mut v = serde_json::to_value(full_batch()).unwrap();
    v["events"][0]["commands"][0]["value"] = json!(1);
    assert!(validate_value(v, today()).is_err());
}

#[test]
fn patterns() {
    assert!(Pattern::Value.matches("bash"));
    assert!(Pattern::Value.matches("power-shell_7"));
    assert!(!Pattern::Value.matches("Bash"));
    assert!(!Pattern::Value.matches("two words"));
    assert!(!Pattern::Value.matches(&"x".repeat(33)));
    assert!(Pattern::CommandPath.matches("config otel get"));
    assert!(!Pattern::CommandPath.matches("config  otel"));
    assert!(!Pattern::CommandPath.matches("a b c d e"));
    assert!(!Pattern::CommandPath.matches("/etc/passwd"));
    assert!(Pattern::ToolName.matches("get_weather.v2"));
    assert!(!Pattern::ToolName.matches("has space"));
    assert!(Pattern::AppName.matches("my-tool"));
    assert!(!Pattern::AppName.matches("My Tool"));
    assert!(Pattern::Version.matches("1.2.3-rc.1+abc"));
}

/// The batch the ingest benchmark sends (`benches/ingest.rs`), as clients
/// write it: schema 1, tag first, optional fields left out.
fn bench_body() -> Vec<u8> {
    let m = crate::os::random::uuid();
    let b = crate::os::random::uuid();
    format!(
        concat!(
            r#"{{"envelope":{{"app":"benchtool","app_version":"2.1.0","os":"linux","arch":"x86_64","ci":false,"schema":1,"#,
            r#""machine_id":"{}","batch_id":"{}"}},"events":[{{"type":"usage_rollup","day":"2026-11-20","#,
            r#""commands":[{{"command":"build","count":3}},{{"command":"config otel get","count":1}}],"#,
            r#""tool_calls":[{{"tool":"search","outcome":"ok","count":4,"latency":[2,1,1,0,0,0,0]}},{{"outcome":"protocol_error","error_class":"invalid_params","count":2,"latency":[2,0,0,0,0,0,0]}}],"#,
            r#""clients":[{{"client":"cursor","major":1,"count":2}}]}},"#,
            r#"{{"type":"facts","day":"2026-11-20","auth_type":"oidc","backend_count":"2-5","uptime":"1-24h"}}]}}"#
        ),
        m, b
    )
    .into_bytes()
}

/// The typed one-pass path (`wire.rs`) takes the batches clients send: a
/// field added to the schema (and to `full_batch`) but not to the path's
/// checks would send every batch the slow way, and fails here.
#[test]
fn clean_batches_take_the_typed_path() {
    let batch = full_batch();
    let body = serde_json::to_vec(&batch).unwrap();
    assert_eq!(
        crate::schema::wire::parse_clean(&body, today()),
        Some(batch)
    );
    let body = to_body(&serde_json::to_value(full_batch()).unwrap());
    assert!(crate::schema::wire::parse_clean(&body, today()).is_some());
    let body = bench_body();
    let fast = crate::schema::wire::parse_clean(&body, today()).expect("typed path");
    assert_eq!(fast, general(&body, today()).unwrap().batch);
}

/// Every node of a JSON value, as JSON pointers.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// A value written as clients write it: an event's `type` first (a
/// `Value` keeps its keys sorted).
fn to_body(v: &Value) -> Vec<u8> {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                out.push('{');
                let keys = m
                    .keys()
                    .filter(|k| *k == "type")
                    .chain(m.keys().filter(|k| *k != "type"));
                for (i, k) in keys.enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    write(&m[k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            _ => out.push_str(&v.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out.into_bytes()
}

/// Asserts the typed path accepted `body` only if the general validator
/// keeps it unchanged with nothing dropped; returns whether it accepted.
fn same_verdict(body: &[u8]) -> bool {
    let Some(fast) = crate::schema::wire::parse_clean(body, today()) else {
        return false;
    };
    let text = String::from_utf8_lossy(body);
    let slow = general(body, today())
        .unwrap_or_else(|e| panic!("typed path took what the general one refuses ({e}): {text}"));
    assert_eq!(slow.drops, Drops::default(), "{text}");
    assert_eq!(slow.batch, fast, "{text}");
    true
}

/// Regression guard for the typed path: it must never take a batch the
/// general validator would refuse, strip, merge or drop from. Every node
/// of a batch using every field is replaced by hostile values, objects get
/// unknown and lose known keys, list items repeat; and a few bodies no
/// `Value` can express (repeated keys, the tag not first, trailing bytes).
#[test]
fn the_typed_path_takes_only_what_the_general_one_keeps_unchanged() {
    let mut base = serde_json::to_value(full_batch()).unwrap();
    base["events"].as_array_mut().unwrap().push(
        json!({"type": "usage_rollup", "day": "2026-11-19",
            "commands": [{"command": "build", "outcome": "failure", "count": 2,
                "duration": [1, 1, 0, 0, 0, 0, 0]},
                {"command": "init", "value": "zsh", "outcome": "success", "count": 1},
                {"command": "init", "value": "bash", "outcome": "success", "count": 1}]}),
    );
    let hostile = [
        json!(null),
        json!(true),
        json!(0),
        json!(1),
        json!(-1),
        json!(2),
        json!(1.5),
        json!(9999),
        json!(10000),
        json!(MAX_COUNT),
        json!(MAX_COUNT + 1),
        json!(u64::MAX),
        json!(""),
        json!("x"),
        json!("X Y"),
        json!("a  b"),
        json!("2026-11-20"),
        json!("2026-10-01"),
        json!("2026-11-23"),
        json!("linux"),
        json!("ok"),
        json!("other"),
        json!("success"),
        json!("usage_rollup"),
        json!("lifecycle"),
        json!("facts"),
        json!("x".repeat(65)),
        json!([]),
        json!([0, 0, 0, 0, 0, 0, 0]),
        json!([1, 0, 0, 0, 0, 0, 0]),
        json!([3, 0, 0, 0, 0, 0, 0]),
        json!([1, 0, 0, 0, 0, 0]),
        json!({}),
    ];
    let mut paths = Vec::new();
    pointers(&base, String::new(), &mut paths);
    let (mut taken, mut tried) = (0, 0);
    let mut check = |v: &Value| {
        tried += 1;
        if same_verdict(&to_body(v)) {
            taken += 1;
        }
    };
    check(&base);
    for p in &paths {
        for h in &hostile {
            let mut v = base.clone();
            *v.pointer_mut(p).unwrap() = h.clone();
            check(&v);
        }
        let mut v = base.clone();
        match v.pointer_mut(p).unwrap() {
            Value::Object(m) => {
                let keys: Vec<String> = m.keys().cloned().collect();
                m.insert("zz_unknown".into(), json!(1));
                check(&v);
                for key in keys {
                    let mut w = base.clone();
                    w.pointer_mut(p)
                        .unwrap()
                        .as_object_mut()
                        .unwrap()
                        .remove(&key);
                    check(&w);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                let first = a[0].clone();
                a.push(first);
                check(&v);
            }
            _ => {}
        }
    }
    assert!(taken >= 10, "the typed path took {taken} of {tried}");

    let clean = String::from_utf8(to_body(&base)).unwrap();
    let raw = [
        clean.replacen(r#"{"envelope":"#, r#"{"events":[],"envelope":"#, 1),
        clean.replacen(r#""app":"demo","#, r#""app":"demo","app":"demo","#, 1),
        clean.replacen(
            r#"{"type":"usage_rollup","day":"2026-11-20","#,
            r#"{"day":"2026-11-20","type":"usage_rollup","#,
            1,
        ),
        clean.replacen(
            r#""day":"2026-11-20","#,
            r#""day":"2026-11-20","type":"facts","#,
            1,
        ),
        format!("{clean} x"),
        format!("{clean}{{}}"),
        format!(" \n{clean}\n "),
        clean.replacen(r#""count":3"#, r#""count":3.0"#, 1),
        clean.replacen(r#""count":3"#, r#""count":-0"#, 1),
        clean.replacen(r#""count":3"#, r#""count":3e0"#, 1),
    ];
    for body in &raw {
        same_verdict(body.as_bytes());
    }
    assert!(same_verdict(format!(" \n{clean}\n ").as_bytes()));
}
