//! Turning rollups into OTLP metrics: the schema's events are summed into
//! [`Totals`] (the same dimensions the schema allows, nothing else), and
//! [`request`] builds an `ExportMetricsServiceRequest` of monotonic DELTA
//! sums and explicit-bucket histograms over one time window, encoded by the
//! official generated types of the `opentelemetry-proto` crate (protobuf
//! through prost, JSON through its serde mapping). The library uses it per
//! completed day, `tally serve` per export interval.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::consent::otel::Protocol;
use crate::schema::{self, Event, LATENCY_BUCKETS};

/// Runs of a command path, by outcome.
pub const COMMAND_RUNS: &str = "tally.command.runs";
/// Command durations, milliseconds.
pub const COMMAND_DURATION: &str = "tally.command.duration";
/// MCP tool calls, by outcome.
pub const TOOL_CALLS: &str = "tally.mcp.tool_calls";
/// MCP tool call latency, milliseconds.
pub const TOOL_LATENCY: &str = "tally.mcp.tool_call.latency";
/// MCP client sessions.
pub const CLIENT_SESSIONS: &str = "tally.mcp.client_sessions";
/// Lifecycle events.
pub const LIFECYCLE: &str = "tally.lifecycle";
/// Rows lost locally (or beyond the exporter's own bounds).
pub const DROPPED: &str = "tally.rows.dropped";

/// Distinct series one [`Totals`] holds at most; what does not fit is
/// counted as dropped (bounds the server's memory).
pub const MAX_SERIES: usize = 4096;

type Buckets = [u64; LATENCY_BUCKETS];
/// A tool-call series: tool name (when recorded), outcome, error class.
type ToolKey = (Option<String>, &'static str, Option<&'static str>);

/// Summed counts, keyed by the schema's dimensions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    commands: BTreeMap<(String, &'static str), (u64, Option<Buckets>)>,
    tools: BTreeMap<ToolKey, (u64, Buckets)>,
    clients: BTreeMap<(String, Option<u64>), u64>,
    lifecycle: BTreeMap<&'static str, u64>,
    dropped: u64,
}

fn add_buckets(into: &mut Buckets, from: &Buckets) {
    for (a, b) in into.iter_mut().zip(from) {
        *a = a.saturating_add(*b);
    }
}

impl Totals {
    /// Distinct series held.
    pub fn series(&self) -> usize {
        self.commands.len() + self.tools.len() + self.clients.len() + self.lifecycle.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.series() == 0 && self.dropped == 0
    }

    fn full(&self) -> bool {
        self.series() >= MAX_SERIES
    }

    /// Adds an event (facts are not counts and are left out).
    pub fn add(&mut self, event: &Event) {
        match event {
            Event::UsageRollup(r) => {
                for c in &r.commands {
                    let key = (
                        c.command.clone(),
                        c.outcome
                            .unwrap_or(schema::CommandOutcome::Unknown)
                            .as_str(),
                    );
                    if self.full() && !self.commands.contains_key(&key) {
                        self.dropped = self.dropped.saturating_add(1);
                        continue;
                    }
                    let e = self.commands.entry(key).or_default();
                    e.0 = e.0.saturating_add(c.count);
                    if let Some(d) = &c.duration {
                        add_buckets(e.1.get_or_insert_with(Default::default), d);
                    }
                }
                for t in &r.tool_calls {
                    let key = (
                        t.tool.clone(),
                        t.outcome.as_str(),
                        t.error_class.map(|c| c.as_str()),
                    );
                    if self.full() && !self.tools.contains_key(&key) {
                        self.dropped = self.dropped.saturating_add(1);
                        continue;
                    }
                    let e = self.tools.entry(key).or_default();
                    e.0 = e.0.saturating_add(t.count);
                    add_buckets(&mut e.1, &t.latency);
                }
                for c in &r.clients {
                    let key = (c.client.clone(), c.major);
                    if self.full() && !self.clients.contains_key(&key) {
                        self.dropped = self.dropped.saturating_add(1);
                        continue;
                    }
                    let e = self.clients.entry(key).or_default();
                    *e = e.saturating_add(c.count);
                }
                self.dropped = self.dropped.saturating_add(r.dropped);
            }
            Event::Lifecycle(l) => {
                let e = self.lifecycle.entry(l.kind.as_str()).or_default();
                *e = e.saturating_add(l.count);
            }
            Event::Facts(_) => {}
        }
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// A string attribute.
pub fn kv_str(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_owned()))
}

fn sum(name: &str, description: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.to_owned(),
        description: description.to_owned(),
        unit: unit.to_owned(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn histogram(name: &str, description: &str, points: Vec<HistogramDataPoint>) -> Metric {
    Metric {
        name: name.to_owned(),
        description: description.to_owned(),
        unit: "ms".to_owned(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Delta as i32,
        })),
        ..Default::default()
    }
}

/// The metrics for `totals` over `[start, end)` (Unix nanoseconds).
pub fn metrics(totals: &Totals, start: u64, end: u64) -> Vec<Metric> {
    let point = |attributes: Vec<KeyValue>, n: u64| NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: end,
        value: Some(number_data_point::Value::AsInt(
            i64::try_from(n).unwrap_or(i64::MAX),
        )),
        ..Default::default()
    };
    let hist = |attributes: Vec<KeyValue>, b: &Buckets, bounds: &[u64]| HistogramDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: end,
        count: b.iter().fold(0u64, |a, x| a.saturating_add(*x)),
        bucket_counts: b.to_vec(),
        explicit_bounds: bounds.iter().map(|x| *x as f64).collect(),
        ..Default::default()
    };
    let mut out = Vec::new();
    if !totals.commands.is_empty() {
        let attrs = |(cmd, outcome): &(String, &str)| {
            vec![kv_str("command", cmd), kv_str("outcome", outcome)]
        };
        out.push(sum(
            COMMAND_RUNS,
            "Command runs, by subcommand path and outcome",
            "{run}",
            totals
                .commands
                .iter()
                .map(|(k, (n, _))| point(attrs(k), *n))
                .collect(),
        ));
        let durations: Vec<_> = totals
            .commands
            .iter()
            .filter_map(|(k, (_, d))| {
                Some(hist(attrs(k), d.as_ref()?, &schema::DURATION_BOUNDS_MS))
            })
            .collect();
        if !durations.is_empty() {
            out.push(histogram(
                COMMAND_DURATION,
                "Command durations in the schema's coarse buckets",
                durations,
            ));
        }
    }
    if !totals.tools.is_empty() {
        let attrs = |(tool, outcome, class): &ToolKey| {
            let mut a = vec![kv_str("outcome", outcome)];
            if let Some(c) = class {
                a.push(kv_str("error_class", c));
            }
            if let Some(t) = tool {
                a.push(kv_str("tool", t));
            }
            a
        };
        out.push(sum(
            TOOL_CALLS,
            "MCP tool calls, by outcome",
            "{call}",
            totals
                .tools
                .iter()
                .map(|(k, (n, _))| point(attrs(k), *n))
                .collect(),
        ));
        out.push(histogram(
            TOOL_LATENCY,
            "MCP tool call latency in the schema's buckets",
            totals
                .tools
                .iter()
                .map(|(k, (_, b))| hist(attrs(k), b, &schema::LATENCY_BOUNDS_MS))
                .collect(),
        ));
    }
    if !totals.clients.is_empty() {
        out.push(sum(
            CLIENT_SESSIONS,
            "MCP client sessions, by allowlisted client name",
            "{session}",
            totals
                .clients
                .iter()
                .map(|((client, major), n)| {
                    let mut a = vec![kv_str("client", client)];
                    if let Some(m) = major {
                        a.push(kv(
                            "client_major_version",
                            any_value::Value::IntValue(i64::try_from(*m).unwrap_or(0)),
                        ));
                    }
                    point(a, *n)
                })
                .collect(),
        ));
    }
    if !totals.lifecycle.is_empty() {
        out.push(sum(
            LIFECYCLE,
            "Install, uninstall and upgrade events",
            "{event}",
            totals
                .lifecycle
                .iter()
                .map(|(k, n)| point(vec![kv_str("kind", k)], *n))
                .collect(),
        ));
    }
    if totals.dropped > 0 {
        out.push(sum(
            DROPPED,
            "Rows lost locally: corrupt, over a size cap, or outside the schema",
            "{row}",
            vec![point(Vec::new(), totals.dropped)],
        ));
    }
    out
}

/// The request: one resource per entry, each with its metrics under the
/// `tally` instrumentation scope.
pub fn request(resources: Vec<(Vec<KeyValue>, Vec<Metric>)>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: resources
            .into_iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(attributes, metrics)| ResourceMetrics {
                resource: Some(Resource {
                    attributes,
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "tally".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

/// The body and its content type.
pub fn encode(req: &ExportMetricsServiceRequest, protocol: Protocol) -> (Vec<u8>, &'static str) {
    match protocol {
        Protocol::Protobuf => (req.encode_to_vec(), "application/x-protobuf"),
        Protocol::Json => (
            serde_json::to_vec(req).unwrap_or_default(),
            "application/json",
        ),
    }
}

/// The Unix-nanosecond bounds of a UTC day `YYYY-MM-DD`.
pub fn day_bounds(day: &str) -> Option<(u64, u64)> {
    let d = crate::os::clock::parse_day(day)?;
    let start = i128::from(d.midnight_unix()) * 1_000_000_000;
    let end = start + 86_400_000_000_000;
    Some((u64::try_from(start).ok()?, u64::try_from(end).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{CommandCount, CommandOutcome, Outcome, ToolCallCount, UsageRollup};

    fn rollup() -> Event {
        Event::UsageRollup(UsageRollup {
            day: "2026-01-02".into(),
            commands: vec![CommandCount {
                command: "build".into(),
                value: None,
                outcome: Some(CommandOutcome::Success),
                count: 3,
                duration: Some([3, 0, 0, 0, 0, 0, 0]),
            }],
            tool_calls: vec![ToolCallCount {
                tool: None,
                outcome: Outcome::Ok,
                error_class: None,
                count: 2,
                latency: [1, 1, 0, 0, 0, 0, 0],
            }],
            clients: Vec::new(),
            dropped: 0,
        })
    }

    #[test]
    fn sums_are_monotonic_deltas_and_round_trip_through_prost() {
        let mut t = Totals::default();
        t.add(&rollup());
        t.add(&rollup());
        let (s, e) = day_bounds("2026-01-02").unwrap();
        assert_eq!(e - s, 86_400 * 1_000_000_000);
        let req = request(vec![(vec![kv_str("service.name", "x")], metrics(&t, s, e))]);
        let (body, _) = encode(&req, Protocol::Protobuf);
        let back = ExportMetricsServiceRequest::decode(body.as_slice()).unwrap();
        assert_eq!(back, req);
        let m = &back.resource_metrics[0].scope_metrics[0].metrics;
        assert_eq!(m[0].name, COMMAND_RUNS);
        let Some(metric::Data::Sum(sum)) = &m[0].data else {
            panic!("not a sum")
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Delta as i32
        );
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(6))
        );
    }

    #[test]
    fn series_beyond_the_bound_are_counted_as_dropped() {
        let mut t = Totals::default();
        for i in 0..MAX_SERIES + 10 {
            t.add(&Event::UsageRollup(UsageRollup {
                day: "2026-01-02".into(),
                commands: vec![CommandCount {
                    command: format!("c{i}"),
                    value: None,
                    outcome: None,
                    count: 1,
                    duration: None,
                }],
                ..Default::default()
            }));
        }
        assert_eq!(t.series(), MAX_SERIES);
        assert_eq!(t.dropped, 10);
    }
}
