//! The validator's fast path: a batch parsed in one pass straight into the
//! typed [`Batch`], for the batches real clients send, which are clean:
//! nothing unknown, nothing out of range, nothing to merge or drop.
//!
//! The general validator (`validate.rs`) walks a `serde_json::Value`
//! against the field table, and then converts the cleaned value into the
//! typed batch through serde's buffered representation of the internally
//! tagged [`Event`]: two passes and an allocation per key and value, most
//! of `tally serve`'s CPU per batch under load. This path instead
//! deserializes with strict mirrors of the schema's structs (serde's
//! `remote` derive: the compiler insists they list every field of the
//! struct they build, so a field added to the schema without them fails
//! to build) and then checks, on the typed values, every limit the table
//! sets. It answers only "clean, here is the batch" or "not sure": any
//! surprise (an unknown key, a null, a duplicate key or item, a value
//! outside its limit, an event out of the window, a syntax error) gives
//! `None`, and the caller runs the general validator, which decides with
//! the reasons and drop counts it always gave. So the fast path can accept
//! only what the general one accepts unchanged with nothing dropped; a
//! test (`validate_tests.rs`) holds the two to that on every field.

use std::collections::HashSet;
use std::hash::Hash;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::os::date::Date;
use crate::schema::fields::Pattern;
use crate::schema::limits::{MAX_AGE_DAYS, MAX_BATCH_COUNT, MAX_EVENTS};
use crate::schema::{
    ARCHES, AUTH_TYPES, Batch, CLIENTS, CONFLICT_STRATEGIES, COUNT_BUCKETS, ClientCount,
    CommandCount, CommandOutcome, Envelope, ErrorClass, Event, Facts, LATENCY_BUCKETS, Lifecycle,
    LifecycleKind, MAX_COUNT, OSES, Outcome, SCHEMA_VERSION, ToolCallCount, UPTIME_BUCKETS,
    UsageRollup,
};

/// Items of one list at most (the table's `max` of `commands` and
/// `tool_calls`; `clients` is checked against its own).
const MAX_ITEMS: usize = 512;
/// Clients of one rollup at most.
const MAX_CLIENTS: usize = 64;
/// Largest client major version.
const MAX_MAJOR: u64 = 9999;

/// The batch in `body` if it is clean (see the module documentation);
/// `None` means "ask the general validator".
pub(crate) fn parse_clean(body: &[u8], today: Date) -> Option<Batch> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let batch = BatchDef::deserialize(&mut de).ok()?;
    // Only whitespace may follow, as `serde_json::from_slice` requires.
    de.end().ok()?;
    clean(&batch, today).then_some(batch)
}

// Strict mirrors of the schema's structs. Each builds the real struct, so
// it must name every field of it; unknown keys and duplicate keys fail.

#[derive(serde::Deserialize)]
#[serde(remote = "Batch", deny_unknown_fields)]
struct BatchDef {
    #[serde(with = "EnvelopeDef")]
    envelope: Envelope,
    #[serde(deserialize_with = "events")]
    events: Vec<Event>,
}

#[derive(serde::Deserialize)]
#[serde(remote = "Envelope", deny_unknown_fields)]
struct EnvelopeDef {
    app: String,
    app_version: String,
    os: String,
    arch: String,
    ci: bool,
    schema: u32,
    machine_id: String,
    batch_id: String,
}

#[derive(serde::Deserialize)]
#[serde(remote = "UsageRollup", deny_unknown_fields)]
struct UsageRollupDef {
    day: String,
    #[serde(default, deserialize_with = "commands")]
    commands: Vec<CommandCount>,
    #[serde(default, deserialize_with = "tool_calls")]
    tool_calls: Vec<ToolCallCount>,
    #[serde(default, deserialize_with = "clients")]
    clients: Vec<ClientCount>,
    #[serde(default)]
    dropped: u64,
}

#[derive(serde::Deserialize)]
#[serde(remote = "CommandCount", deny_unknown_fields)]
struct CommandCountDef {
    command: String,
    value: Option<String>,
    outcome: Option<CommandOutcome>,
    count: u64,
    duration: Option<[u64; LATENCY_BUCKETS]>,
}

#[derive(serde::Deserialize)]
#[serde(remote = "ToolCallCount", deny_unknown_fields)]
struct ToolCallCountDef {
    tool: Option<String>,
    outcome: Outcome,
    error_class: Option<ErrorClass>,
    count: u64,
    latency: [u64; LATENCY_BUCKETS],
}

#[derive(serde::Deserialize)]
#[serde(remote = "ClientCount", deny_unknown_fields)]
struct ClientCountDef {
    client: String,
    major: Option<u64>,
    count: u64,
}

#[derive(serde::Deserialize)]
#[serde(remote = "Lifecycle", deny_unknown_fields)]
struct LifecycleDef {
    kind: LifecycleKind,
    day: String,
    count: u64,
}

#[derive(serde::Deserialize)]
#[serde(remote = "Facts", deny_unknown_fields)]
struct FactsDef {
    day: String,
    backend_count: Option<String>,
    auth_type: Option<String>,
    conflict_strategy: Option<String>,
    uptime: Option<String>,
    sessions: Option<String>,
    protocol_version: Option<String>,
    declares_tools: Option<bool>,
    declares_resources: Option<bool>,
    declares_prompts: Option<bool>,
}

#[derive(serde::Deserialize)]
struct Cmd(#[serde(with = "CommandCountDef")] CommandCount);
#[derive(serde::Deserialize)]
struct Tool(#[serde(with = "ToolCallCountDef")] ToolCallCount);
#[derive(serde::Deserialize)]
struct Client(#[serde(with = "ClientCountDef")] ClientCount);

fn commands<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<CommandCount>, D::Error> {
    Ok(Vec::<Cmd>::deserialize(d)?
        .into_iter()
        .map(|c| c.0)
        .collect())
}

fn tool_calls<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ToolCallCount>, D::Error> {
    Ok(Vec::<Tool>::deserialize(d)?
        .into_iter()
        .map(|t| t.0)
        .collect())
}

fn clients<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ClientCount>, D::Error> {
    Ok(Vec::<Client>::deserialize(d)?
        .into_iter()
        .map(|c| c.0)
        .collect())
}

/// The events array, at most [`MAX_EVENTS`] long.
fn events<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Event>, D::Error> {
    struct Events;
    impl<'de> Visitor<'de> for Events {
        type Value = Vec<Event>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of events")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Event>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(2).min(MAX_EVENTS));
            while let Some(WireEvent(e)) = seq.next_element()? {
                if out.len() == MAX_EVENTS {
                    return Err(de::Error::custom("too many events"));
                }
                out.push(e);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Events)
}

/// The first key of an event: clients write the tag first (serde's
/// internally tagged form does), which lets the rest of the object go
/// straight into its struct without buffering. An event written another
/// way takes the general path.
#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum First {
    Type,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum EventType {
    UsageRollup,
    Lifecycle,
    Facts,
}

struct WireEvent(Event);

impl<'de> Deserialize<'de> for WireEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Event;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an event object with `type` first")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
                let Some(First::Type) = map.next_key::<First>()? else {
                    return Err(de::Error::custom("no `type` first"));
                };
                let ty: EventType = map.next_value()?;
                let rest = MapAccessDeserializer::new(map);
                Ok(match ty {
                    EventType::UsageRollup => {
                        Event::UsageRollup(UsageRollupDef::deserialize(rest)?)
                    }
                    EventType::Lifecycle => Event::Lifecycle(LifecycleDef::deserialize(rest)?),
                    EventType::Facts => Event::Facts(FactsDef::deserialize(rest)?),
                })
            }
        }
        d.deserialize_map(V).map(WireEvent)
    }
}

/// Whether the general validator would keep `b` exactly as it is: every
/// limit of the field table (`fields.rs`) holds, no item repeats another
/// but for its counts (those are merged there), every event is inside the
/// window, and the counts stay within [`MAX_BATCH_COUNT`].
fn clean(b: &Batch, today: Date) -> bool {
    let e = &b.envelope;
    let envelope = Pattern::AppName.matches(&e.app)
        && Pattern::Version.matches(&e.app_version)
        && OSES.contains(&e.os.as_str())
        && ARCHES.contains(&e.arch.as_str())
        && (1..=SCHEMA_VERSION).contains(&e.schema)
        && Pattern::Uuid.matches(&e.machine_id)
        && Pattern::Uuid.matches(&e.batch_id);
    if !envelope || b.events.len() > MAX_EVENTS {
        return false;
    }
    let oldest = today - MAX_AGE_DAYS;
    let newest = today + 1;
    let in_window =
        |day: &str| crate::os::clock::parse_day(day).is_some_and(|d| d >= oldest && d <= newest);
    let mut total = 0u64;
    for event in &b.events {
        let counted = match event {
            Event::UsageRollup(r) => {
                if !in_window(&r.day) {
                    return false;
                }
                match rollup(r) {
                    Some(n) => n,
                    None => return false,
                }
            }
            Event::Lifecycle(l) => {
                if !in_window(&l.day) || !is_count(l.count) {
                    return false;
                }
                l.count
            }
            Event::Facts(f) => {
                if !in_window(&f.day) || !facts(f) {
                    return false;
                }
                0
            }
        };
        total = total.saturating_add(counted);
    }
    total <= MAX_BATCH_COUNT
}

/// A count of the table (`COUNT`: 1 to [`MAX_COUNT`]).
fn is_count(n: u64) -> bool {
    (1..=MAX_COUNT).contains(&n)
}

/// Whether a bucket array is within its limits and adds up to its item's
/// count (or is all 0: no histogram).
fn buckets(b: &[u64; LATENCY_BUCKETS], count: u64) -> bool {
    b.iter().all(|&n| n <= MAX_COUNT) && {
        let sum = b.iter().fold(0u64, |a, &n| a.saturating_add(n));
        sum == 0 || sum == count
    }
}

/// What a clean rollup's counts add up to; `None` if it is not clean.
/// A field added to an item needs its limit checked here and, unless it
/// is a count, a place in the item's identity below (the general
/// validator merges items equal in every field but their counts). The
/// test `the_typed_path_takes_only_what_the_general_one_keeps_unchanged`
/// fails while a limit is missing; without the identity, items that
/// differ only in the new field just take the general path.
fn rollup(r: &UsageRollup) -> Option<u64> {
    if r.commands.len() > MAX_ITEMS
        || r.tool_calls.len() > MAX_ITEMS
        || r.clients.len() > MAX_CLIENTS
        || r.dropped > MAX_COUNT
    {
        return None;
    }
    let mut total = r.dropped;
    for c in &r.commands {
        let ok = Pattern::CommandPath.matches(&c.command)
            && c.value.as_deref().is_none_or(|v| Pattern::Value.matches(v))
            && is_count(c.count)
            && c.duration.as_ref().is_none_or(|d| buckets(d, c.count));
        if !ok {
            return None;
        }
        total = total.saturating_add(c.count);
    }
    for t in &r.tool_calls {
        let ok = t
            .tool
            .as_deref()
            .is_none_or(|n| Pattern::ToolName.matches(n))
            && is_count(t.count)
            && buckets(&t.latency, t.count);
        if !ok {
            return None;
        }
        total = total.saturating_add(t.count);
    }
    for c in &r.clients {
        let ok = CLIENTS.contains(&c.client.as_str())
            && c.major.is_none_or(|m| m <= MAX_MAJOR)
            && is_count(c.count);
        if !ok {
            return None;
        }
        total = total.saturating_add(c.count);
    }
    // Repeated identities are merged by the general validator.
    let unique = distinct(
        r.commands
            .iter()
            .map(|c| (c.command.as_str(), c.value.as_deref(), c.outcome)),
    ) && distinct(
        r.tool_calls
            .iter()
            .map(|t| (t.tool.as_deref(), t.outcome, t.error_class)),
    ) && distinct(r.clients.iter().map(|c| (c.client.as_str(), c.major)));
    unique.then_some(total)
}

fn facts(f: &Facts) -> bool {
    let one_of = |v: &Option<String>, list: &[&str]| v.as_deref().is_none_or(|s| list.contains(&s));
    one_of(&f.backend_count, COUNT_BUCKETS)
        && one_of(&f.auth_type, AUTH_TYPES)
        && one_of(&f.conflict_strategy, CONFLICT_STRATEGIES)
        && one_of(&f.uptime, UPTIME_BUCKETS)
        && one_of(&f.sessions, COUNT_BUCKETS)
        && f.protocol_version
            .as_deref()
            .is_none_or(|s| Pattern::Day.matches(s))
}

/// Whether no two identities repeat: pairwise for the few items of a
/// typical list, hashed past that.
fn distinct<K: Eq + Hash>(items: impl ExactSizeIterator<Item = K> + Clone) -> bool {
    if items.len() <= 16 {
        let all: Vec<K> = items.collect();
        return all
            .iter()
            .enumerate()
            .all(|(i, a)| all[i + 1..].iter().all(|b| a != b));
    }
    let n = items.len();
    items.collect::<HashSet<K>>().len() == n
}
