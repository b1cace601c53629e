//! Validation of an incoming batch against the schema table: the server's
//! allowlist. Malformed structure or wrong JSON types reject the batch with a
//! one-line reason; unknown events and fields, and values outside their
//! pattern, list or range, are dropped and counted; what is left is exactly
//! something the typed [`Batch`] can hold.
//!
//! Against amplification inside one batch: items of a list that differ only
//! in their counts are merged into one (counts summed), and a batch whose
//! counts add up to more than [`MAX_BATCH_COUNT`] is rejected, counted as
//! sent: two items of 1e9 add up to 2e9 whether or not they merge. A bucket
//! array (latency, duration) breaks its item's count down, so its buckets
//! must add up to that count (or all be 0: no histogram); an item whose
//! buckets disagree is dropped as an invalid value, so buckets stay within
//! the cap too. The rules are generic: a count is any integer field or
//! bucket array whose limit is [`MAX_COUNT`], so every item kind the table
//! defines gets them.

use crate::os::date::Date;
use serde_json::{Map, Value};

use crate::os::clock::parse_day;
use crate::schema::{self, Batch, Field, Kind, MAX_COUNT};
// The batch limits live in `schema::limits`, which the typed pass (`wire`)
// reads too; they are named here, where they always were.
pub(crate) use crate::schema::limits::MAX_EVENTS;
pub use crate::schema::limits::{MAX_AGE_DAYS, MAX_BATCH_COUNT};

/// What validation removed from a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drops {
    /// Events whose `type` is not in the schema.
    pub unknown_events: u64,
    /// Keys not in the schema.
    pub unknown_fields: u64,
    /// Values outside their pattern, allowlist or range (and objects that
    /// lost a required field that way).
    pub invalid_values: u64,
    /// Events for a day more than 30 days old or in the future.
    pub out_of_window: u64,
}

impl Drops {
    /// Total of everything dropped.
    pub fn total(&self) -> u64 {
        self.unknown_events + self.unknown_fields + self.invalid_values + self.out_of_window
    }
}

/// A batch that passed validation, and what was removed from it.
#[derive(Clone, Debug)]
pub struct Validated {
    /// The cleaned batch.
    pub batch: Batch,
    /// What was dropped.
    pub drops: Drops,
}

/// Why a batch was rejected outright (HTTP 400).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject(pub String);

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reject {}

/// Validates a request body. `today` is the receiver's UTC date.
pub fn validate(body: &[u8], today: Date) -> Result<Validated, Reject> {
    // The batches clients send are clean: one typed pass takes them. Any
    // other goes the general way below, which gives every reason and drop.
    if let Some(batch) = crate::schema::wire::parse_clean(body, today) {
        return Ok(Validated {
            batch,
            drops: Drops::default(),
        });
    }
    general(body, today)
}

/// The general validator of a request body, whatever it holds.
fn general(body: &[u8], today: Date) -> Result<Validated, Reject> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| Reject(format!("body is not JSON: {e}")))?;
    validate_value(value, today)
}

/// Validates an already-parsed body.
pub fn validate_value(value: Value, today: Date) -> Result<Validated, Reject> {
    let Value::Object(mut top) = value else {
        return Err(Reject("body must be a JSON object".into()));
    };
    let mut drops = Drops::default();
    let envelope = top
        .remove("envelope")
        .ok_or_else(|| Reject("missing `envelope`".into()))?;
    let events = top
        .remove("events")
        .ok_or_else(|| Reject("missing `events`".into()))?;
    drops.unknown_fields += top.len() as u64;

    let Value::Object(envelope) = envelope else {
        return Err(Reject("`envelope` must be an object".into()));
    };
    let mut env_drops = Drops::default();
    let envelope = check_object("envelope", envelope, schema::ENVELOPE, &mut env_drops)?
        .ok_or_else(|| Reject(first_envelope_problem(&env_drops)))?;
    if env_drops.invalid_values > 0 {
        return Err(Reject("`envelope` has a value outside the schema".into()));
    }
    drops.unknown_fields += env_drops.unknown_fields;

    let Value::Array(events) = events else {
        return Err(Reject("`events` must be an array".into()));
    };
    if events.len() > MAX_EVENTS {
        return Err(Reject(format!(
            "more than {MAX_EVENTS} events in one batch"
        )));
    }
    let oldest = today - (MAX_AGE_DAYS);
    let newest = today + (1);
    let mut kept = Vec::with_capacity(events.len());
    let mut total = 0u64;
    for (n, event) in events.into_iter().enumerate() {
        let Value::Object(mut event) = event else {
            return Err(Reject(format!("events[{n}] must be an object")));
        };
        let ty = match event.remove("type") {
            Some(Value::String(t)) => t,
            Some(_) => return Err(Reject(format!("events[{n}].type must be a string"))),
            None => return Err(Reject(format!("events[{n}] has no `type`"))),
        };
        let Some(def) = schema::event_def(&ty) else {
            drops.unknown_events += 1;
            continue;
        };
        let Some(mut fields) =
            check_object(&format!("events[{n}]"), event, def.fields, &mut drops)?
        else {
            continue;
        };
        let day = fields
            .get("day")
            .and_then(Value::as_str)
            .and_then(parse_day);
        if day.is_none_or(|d| d < oldest || d > newest) {
            drops.out_of_window += 1;
            continue;
        }
        total = total.saturating_add(counted(def.fields, &fields));
        if total > MAX_BATCH_COUNT {
            return Err(Reject(format!(
                "the counts in this batch add up to more than {MAX_BATCH_COUNT}"
            )));
        }
        fields.insert("type".into(), Value::String(ty));
        kept.push(Value::Object(fields));
    }
    let mut clean = Map::new();
    clean.insert("envelope".into(), Value::Object(envelope));
    clean.insert("events".into(), Value::Array(kept));
    let batch: Batch = serde_json::from_value(Value::Object(clean))
        .map_err(|e| Reject(format!("batch does not fit the schema: {e}")))?;
    Ok(Validated { batch, drops })
}

fn first_envelope_problem(d: &Drops) -> String {
    if d.invalid_values > 0 {
        "`envelope` has a value outside the schema".into()
    } else {
        "`envelope` is missing a required field".into()
    }
}

/// Checks an object's fields. `Ok(None)` means the object is dropped (a
/// required field was missing or invalid); `Err` means a wrong JSON type.
fn check_object(
    at: &str,
    obj: Map<String, Value>,
    fields: &'static [Field],
    drops: &mut Drops,
) -> Result<Option<Map<String, Value>>, Reject> {
    let mut out = Map::new();
    for (key, value) in obj {
        let Some(field) = fields.iter().find(|f| f.name == key) else {
            drops.unknown_fields += 1;
            continue;
        };
        if value.is_null() {
            continue;
        }
        match check_value(&format!("{at}.{key}"), &field.kind, value, drops)? {
            Some(v) => {
                out.insert(key, v);
            }
            None => drops.invalid_values += 1,
        }
    }
    if fields
        .iter()
        .any(|f| f.required && !out.contains_key(f.name))
    {
        drops.invalid_values += 1;
        return Ok(None);
    }
    Ok(Some(out))
}

fn check_value(
    at: &str,
    kind: &Kind,
    value: Value,
    drops: &mut Drops,
) -> Result<Option<Value>, Reject> {
    let wrong = |what: &str| Reject(format!("{at} must be {what}"));
    match kind {
        Kind::Str(p) => {
            let Value::String(s) = &value else {
                return Err(wrong("a string"));
            };
            Ok(p.matches(s).then_some(value))
        }
        Kind::Enum(allowed) => {
            let Value::String(s) = &value else {
                return Err(wrong("a string"));
            };
            Ok(allowed.contains(&s.as_str()).then_some(value))
        }
        Kind::Bool => match value {
            Value::Bool(_) => Ok(Some(value)),
            _ => Err(wrong("true or false")),
        },
        Kind::Int { min, max } => {
            let n = int_of(&value).ok_or_else(|| wrong("an integer"))?;
            Ok((n >= *min as i128 && n <= *max as i128).then_some(value))
        }
        Kind::IntArray { len, max } => {
            let Value::Array(items) = &value else {
                return Err(wrong("an array of integers"));
            };
            let mut ok = items.len() == *len;
            for item in items {
                let n = int_of(item).ok_or_else(|| wrong("an array of integers"))?;
                ok &= n >= 0 && n <= *max as i128;
            }
            Ok(ok.then_some(value))
        }
        Kind::List { max, fields } => {
            let Value::Array(items) = value else {
                return Err(wrong("an array of objects"));
            };
            let mut out = Vec::new();
            for (n, item) in items.into_iter().enumerate() {
                let Value::Object(obj) = item else {
                    return Err(Reject(format!("{at}[{n}] must be an object")));
                };
                if out.len() == *max {
                    drops.invalid_values += 1;
                    continue;
                }
                if let Some(o) = check_object(&format!("{at}[{n}]"), obj, fields, drops)? {
                    if buckets_add_up(fields, &o) {
                        out.push(Value::Object(o));
                    } else {
                        drops.invalid_values += 1;
                    }
                }
            }
            Ok(Some(Value::Array(merge_duplicates(fields, out))))
        }
    }
}

/// Whether a field counts something (and so adds up when items merge).
fn is_count(kind: &Kind) -> bool {
    matches!(kind, Kind::Int { max, .. } | Kind::IntArray { max, .. } if *max == MAX_COUNT)
}

/// Merges the items of a list that are equal in every field but their
/// counts: one item per identity, counts summed up to the field's limit.
fn merge_duplicates(fields: &[Field], items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for item in items {
        let Value::Object(obj) = &item else {
            out.push(item);
            continue;
        };
        let mut identity = String::new();
        for f in fields.iter().filter(|f| !is_count(&f.kind)) {
            identity.push_str(f.name);
            identity.push('=');
            identity.push_str(&obj.get(f.name).map_or_else(String::new, Value::to_string));
            identity.push('\u{0}');
        }
        match index.get(&identity) {
            None => {
                index.insert(identity, out.len());
                out.push(item);
            }
            Some(&at) => {
                let Value::Object(into) = &mut out[at] else {
                    continue;
                };
                for f in fields.iter().filter(|f| is_count(&f.kind)) {
                    let add = obj.get(f.name);
                    let cur = into.get_mut(f.name);
                    match (cur, add) {
                        (Some(Value::Array(a)), Some(Value::Array(b))) => {
                            for (x, y) in a.iter_mut().zip(b) {
                                *x = Value::from(sum(x, y));
                            }
                        }
                        (Some(x), Some(y)) => *x = Value::from(sum(x, y)),
                        (None, Some(y)) => {
                            into.insert(f.name.to_owned(), y.clone());
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    out
}

/// Two validated counts added. Not capped at [`MAX_COUNT`]: a merged item
/// over it puts its batch over [`MAX_BATCH_COUNT`], which is rejected.
fn sum(a: &Value, b: &Value) -> u64 {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    n(a).saturating_add(n(b))
}

/// Whether each bucket array of an item adds up to the item's count (or is
/// all 0: no histogram was recorded).
fn buckets_add_up(fields: &[Field], obj: &Map<String, Value>) -> bool {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let Some(count) = fields
        .iter()
        .find(|f| matches!(f.kind, Kind::Int { max, .. } if max == MAX_COUNT))
        .and_then(|f| obj.get(f.name))
        .map(n)
    else {
        return true;
    };
    fields
        .iter()
        .filter(|f| matches!(f.kind, Kind::IntArray { max, .. } if max == MAX_COUNT))
        .filter_map(|f| obj.get(f.name).and_then(Value::as_array))
        .all(|buckets| {
            let total = buckets.iter().map(n).fold(0u64, u64::saturating_add);
            total == 0 || total == count
        })
}

/// What an object's counts add up to, lists included (bucket arrays break
/// a count down, so they are not added again).
fn counted(fields: &[Field], obj: &Map<String, Value>) -> u64 {
    let mut total = 0u64;
    for f in fields {
        match (&f.kind, obj.get(f.name)) {
            (Kind::Int { max, .. }, Some(v)) if *max == MAX_COUNT => {
                total = total.saturating_add(v.as_u64().unwrap_or(0));
            }
            (Kind::List { fields, .. }, Some(Value::Array(items))) => {
                for item in items {
                    if let Value::Object(o) = item {
                        total = total.saturating_add(counted(fields, o));
                    }
                }
            }
            _ => {}
        }
    }
    total
}

fn int_of(v: &Value) -> Option<i128> {
    let Value::Number(n) = v else { return None };
    n.as_u64()
        .map(i128::from)
        .or_else(|| n.as_i64().map(i128::from))
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
