//! The validator and the store under generated input: 100,000 bodies
//! (100 proptest cases of 1,000), each a valid batch put through random
//! mutations (wrong types, unknown keys, hostile strings, deleted fields,
//! deep nesting, truncation, raw garbage). Properties: nothing panics; a
//! body is either rejected or stored; a cleaned batch validates again
//! unchanged with nothing dropped; and every string in the store afterwards
//! is one the schema allows. A smaller run goes through the real server to
//! check that no input gets a 5xx.

use proptest::prelude::*;
use serde_json::{Value, json};
use tally_cli::server::store::{Durability, Store};
use tally_telemetry::schema::validate::validate;
use tally_telemetry::schema::{self, Kind, Pattern};

use crate::serve_support::*;
use crate::support::Sandbox;

/// A small deterministic generator driven by a proptest seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const NASTY: &[&str] = &[
    "",
    " ",
    "CANARY",
    "/home/CANARY/secret",
    "build",
    "config otel get",
    "a b c d e",
    "UPPER",
    "emoji 🎉",
    "null\u{0}byte",
    "../../etc/passwd",
    "<script>",
    "' OR 1=1 --",
    "1.2.3",
    "2026-02-30",
    "ok",
    "other",
    "cursor",
    "x86_64",
];

fn string(r: &mut Rng) -> String {
    match r.below(4) {
        0 => (*r.pick(NASTY)).to_owned(),
        1 => uuid::Uuid::from_u64_pair(r.next(), r.next()).to_string(),
        2 => day(-(r.below(40) as i64) + 2),
        _ => (0..r.below(12))
            .map(|_| char::from_u32(32 + r.below(0x2FF) as u32).unwrap_or('?'))
            .collect(),
    }
}

fn leaf(r: &mut Rng) -> Value {
    match r.below(9) {
        0 => Value::Null,
        1 => json!(r.below(2) == 1),
        2 => json!(r.next() as i64),
        3 => json!(r.below(5)),
        4 => json!(-(r.below(5) as i64)),
        5 => json!(r.below(1000) as f64 / 7.0),
        6 => json!(u64::MAX),
        7 => json!([r.below(3), r.below(3)]),
        _ => json!(string(r)),
    }
}

fn valid(r: &mut Rng) -> Value {
    let mut b = batch(
        &uuid::Uuid::from_u64_pair(r.next(), r.next()).to_string(),
        &uuid::Uuid::from_u64_pair(r.next(), r.next()).to_string(),
        &day(-(r.below(35) as i64)),
        &[("build", 1 + r.below(5) as u64), ("config otel get", 2)],
    );
    b["events"][0]["tool_calls"] = json!([{
        "tool": *r.pick(&["search", "fetch.v2", "x"]), "outcome": *r.pick(schema::OUTCOMES),
        "error_class": *r.pick(schema::ERROR_CLASSES), "count": 3,
        "latency": [1, 1, 1, 0, 0, 0, 0]
    }]);
    b["events"][0]["clients"] =
        json!([{"client": *r.pick(schema::CLIENTS), "major": 1, "count": 1}]);
    let events = b["events"].as_array_mut().unwrap();
    events.push(json!({"type": "lifecycle", "kind": "install", "day": day(-1), "count": 1}));
    events.push(
        json!({"type": "facts", "day": day(-1), "auth_type": "oidc", "declares_tools": true}),
    );
    b
}

/// Picks a random object or array inside `v` and mutates it.
fn mutate(r: &mut Rng, v: &mut Value, depth: usize) {
    let descend = depth < 6 && r.below(3) > 0;
    match v {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = r.pick(&keys).clone();
            if descend {
                mutate(r, map.get_mut(&key).unwrap(), depth + 1);
                return;
            }
            match r.below(4) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    map.insert(key, leaf(r));
                }
                2 => {
                    map.insert(string(r), leaf(r));
                }
                _ => {
                    map.insert(key, json!({"nested": {"deeper": [leaf(r)]}}));
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = r.below(items.len());
            if descend {
                mutate(r, &mut items[i], depth + 1);
                return;
            }
            match r.below(3) {
                0 => {
                    items.remove(i);
                }
                1 => {
                    let copy = items[i].clone();
                    items.push(copy);
                }
                _ => items[i] = leaf(r),
            }
        }
        other => *other = leaf(r),
    }
}

fn body(seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut v = valid(&mut r);
    for _ in 0..r.below(5) {
        mutate(&mut r, &mut v, 0);
    }
    let mut bytes = serde_json::to_vec(&v).unwrap();
    match r.below(20) {
        0 => bytes.truncate(r.below(bytes.len())),
        1 => bytes = (0..r.below(64)).map(|_| r.next() as u8).collect(),
        2 => bytes = format!("{}{}", "[".repeat(200), "]".repeat(200)).into_bytes(),
        _ => {}
    }
    bytes
}

/// Whether `s` is a value some field of the schema allows.
fn allowed(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    fn walk(fields: &[schema::Field], s: &str) -> bool {
        fields.iter().any(|f| match &f.kind {
            Kind::Str(p) => p.matches(s),
            Kind::Enum(list) => list.contains(&s),
            Kind::List { fields, .. } => walk(fields, s),
            _ => false,
        })
    }
    walk(schema::ENVELOPE, s)
        || schema::EVENTS.iter().any(|e| walk(e.fields, s))
        // Stored labels that name things rather than carry values.
        || schema::LIFECYCLE_KINDS.contains(&s)
        || [
            "backend_count",
            "auth_type",
            "conflict_strategy",
            "uptime",
            "sessions",
            "protocol_version",
            "declares_tools",
            "declares_resources",
            "declares_prompts",
            "true",
            "false",
        ]
        .contains(&s)
        || s.parse::<u16>().is_ok_and(|n| n <= 9999)
        || tally_cli::server::store::DROP_REASONS.contains(&s)
}

fn check_store(db: &std::path::Path) {
    let dump = dump(db);
    for line in dump.lines() {
        let mut cells = line.split('|');
        let table = cells.next().unwrap();
        if table.starts_with("sqlite_") {
            // SQLite's own statistics (PRAGMA optimize), not stored data.
            continue;
        }
        for cell in cells {
            if cell.parse::<i64>().is_ok() {
                continue;
            }
            assert!(
                allowed(cell) || Pattern::Uuid.matches(cell),
                "{table} holds {cell:?}, which the schema does not allow"
            );
        }
    }
    // A bare word such as "CANARY" is a legal version or tool name; a path
    // never is.
    assert!(!dump.contains("/home/CANARY"), "a path was stored");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_bodies_never_panic_and_only_schema_values_are_stored(
        seeds in proptest::collection::vec(any::<u64>(), 1000)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("p.sqlite3");
        let mut store = Store::open(&db, Durability::Normal).unwrap();
        let today = tally_telemetry::schema::Timestamp::now().date();
        let mut kept = Vec::new();
        for seed in &seeds {
            let Ok(v) = validate(&body(*seed), today) else { continue };
            // A cleaned batch is itself valid, and nothing more is dropped.
            let again = validate(&serde_json::to_vec(&v.batch).unwrap(), today).unwrap();
            prop_assert_eq!(again.drops.total(), 0);
            prop_assert_eq!(&again.batch, &v.batch);
            kept.push(v);
        }
        let items: Vec<_> = kept.iter().map(|v| (v, today)).collect();
        store.ingest_group(&items).unwrap();
        store.close().unwrap();
        check_store(&db);
    }
}

#[test]
fn generated_bodies_through_the_server_never_get_a_5xx() {
    let sb = Sandbox::new();
    let srv = Server::start(&sb, &["--rate-limit", "0", "--source-rate", "0"]);
    let mut c = Conn::open(srv.addr);
    let mut seen = std::collections::BTreeMap::new();
    for seed in 0..2_000u64 {
        let r = match c.post(&body(seed.wrapping_mul(0x2545_F491_4F6C_DD1D))) {
            Some(r) => r,
            None => {
                c = Conn::open(srv.addr);
                continue;
            }
        };
        assert!(r.status < 500, "seed {seed}: {r:?}");
        assert!([204, 400].contains(&r.status), "seed {seed}: {r:?}");
        *seen.entry(r.status).or_insert(0) += 1;
        if r.header("connection") == Some("close") {
            c = Conn::open(srv.addr);
        }
    }
    assert!(
        seen.contains_key(&204) && seen.contains_key(&400),
        "{seen:?}"
    );
    let (status, _) = srv.stop();
    assert!(status.success());
    check_store(&sb.root().join("server.sqlite3"));
}
