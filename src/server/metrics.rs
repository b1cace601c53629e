//! The ingest server's counters: batches stored and resent, requests
//! rejected by status, and what the validator dropped, by reason. Served at
//! `GET /metrics` in Prometheus' text format and summarised in the log at
//! shutdown and daily. Counts only: no addresses, ids or payloads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::server::conn::Slots;
use crate::server::health::Health;
use tally_telemetry::schema::validate::Drops;

/// Counters of what the server did, for `/metrics` and the log.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Batches stored.
    pub stored: AtomicU64,
    /// Batches whose id was already stored.
    pub duplicates: AtomicU64,
    /// 400 answers.
    pub bad_request: AtomicU64,
    /// 408 answers (body too slow).
    pub timeouts: AtomicU64,
    /// 413 answers.
    pub too_large: AtomicU64,
    /// 415 answers.
    pub wrong_type: AtomicU64,
    /// 429 answers.
    pub rate_limited: AtomicU64,
    /// 503 answers because the store was unavailable.
    pub unavailable: AtomicU64,
    /// 503 answers because everyone together was over the global limit.
    pub over_global: AtomicU64,
    /// 429 answers because one source address was over its limit.
    pub over_source: AtomicU64,
    /// Events dropped for an unknown type.
    pub unknown_events: AtomicU64,
    /// Fields dropped as unknown.
    pub unknown_fields: AtomicU64,
    /// Values dropped as outside the schema.
    pub invalid_values: AtomicU64,
    /// Events dropped for a day outside the window.
    pub out_of_window: AtomicU64,
    /// The connection table, for its counters.
    slots: OnceLock<Arc<Slots>>,
    /// The store's health, for readiness and its counters.
    health: OnceLock<Arc<Health>>,
}

impl Metrics {
    /// Counts what the validator dropped from a stored batch.
    pub fn add_drops(&self, d: &Drops) {
        self.unknown_events
            .fetch_add(d.unknown_events, Ordering::Relaxed);
        self.unknown_fields
            .fetch_add(d.unknown_fields, Ordering::Relaxed);
        self.invalid_values
            .fetch_add(d.invalid_values, Ordering::Relaxed);
        self.out_of_window
            .fetch_add(d.out_of_window, Ordering::Relaxed);
    }

    /// Lets the counters include the connection table's.
    pub(crate) fn attach_slots(&self, slots: Arc<Slots>) {
        let _ = self.slots.set(slots);
    }

    /// Lets the counters include the store's health.
    pub(crate) fn attach_health(&self, health: Arc<Health>) {
        let _ = self.health.set(health);
    }

    fn rows(&self) -> [(&'static str, &'static str, u64); 20] {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let slot = |f: fn(&Slots) -> u64| self.slots.get().map_or(0, |s| f(s));
        let health = |f: fn(&Health) -> u64| self.health.get().map_or(0, |h| f(h));
        [
            ("tally_batches_total", "result=\"stored\"", g(&self.stored)),
            (
                "tally_batches_total",
                "result=\"duplicate\"",
                g(&self.duplicates),
            ),
            (
                "tally_rejected_total",
                "status=\"400\"",
                g(&self.bad_request),
            ),
            ("tally_rejected_total", "status=\"408\"", g(&self.timeouts)),
            ("tally_rejected_total", "status=\"413\"", g(&self.too_large)),
            (
                "tally_rejected_total",
                "status=\"415\"",
                g(&self.wrong_type),
            ),
            (
                "tally_rejected_total",
                "status=\"429\"",
                g(&self.rate_limited),
            ),
            (
                "tally_rejected_total",
                "status=\"503\"",
                g(&self.unavailable),
            ),
            (
                "tally_admission_refused_total",
                "limit=\"global\"",
                g(&self.over_global),
            ),
            (
                "tally_admission_refused_total",
                "limit=\"source\"",
                g(&self.over_source),
            ),
            (
                "tally_store_ready",
                "store=\"writes\"",
                health(|h| u64::from(!h.is_down())),
            ),
            (
                "tally_store_outages_total",
                "store=\"writes\"",
                health(|h| h.outages.load(Ordering::Relaxed)),
            ),
            (
                "tally_store_refused_while_down_total",
                "status=\"503\"",
                health(|h| h.refused_while_down.load(Ordering::Relaxed)),
            ),
            (
                "tally_connections_total",
                "result=\"shed\"",
                slot(|s| s.shed.load(Ordering::Relaxed)),
            ),
            (
                "tally_connections_total",
                "result=\"refused\"",
                slot(|s| s.refused.load(Ordering::Relaxed)),
            ),
            (
                "tally_connections_open",
                "state=\"open\"",
                slot(|s| s.open() as u64),
            ),
            (
                "tally_dropped_total",
                "reason=\"unknown_events\"",
                g(&self.unknown_events),
            ),
            (
                "tally_dropped_total",
                "reason=\"unknown_fields\"",
                g(&self.unknown_fields),
            ),
            (
                "tally_dropped_total",
                "reason=\"invalid_values\"",
                g(&self.invalid_values),
            ),
            (
                "tally_dropped_total",
                "reason=\"out_of_window\"",
                g(&self.out_of_window),
            ),
        ]
    }

    /// The counters in Prometheus' text format.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut last = "";
        for (name, labels, value) in self.rows() {
            if name != last {
                let help = match name {
                    "tally_batches_total" => "Batches acknowledged with 204.",
                    "tally_rejected_total" => "Requests to /v1/batch answered with an error.",
                    "tally_admission_refused_total" => {
                        "Batches refused by the global (503) or per-source (429) admission limit."
                    }
                    "tally_connections_total" => {
                        "Connections cut off to make room (shed) or answered 503 at once (refused)."
                    }
                    "tally_connections_open" => "Connections open now.",
                    "tally_store_ready" => {
                        "1 while the store is known to take writes (what /readyz says), else 0."
                    }
                    "tally_store_outages_total" => {
                        "Times the store was found unable to take writes (disk full, ClickHouse down or frozen)."
                    }
                    "tally_store_refused_while_down_total" => {
                        "Batches answered 503 at once because the store was known down."
                    }
                    _ => "Events, fields and values the validator removed from accepted batches.",
                };
                let kind = if name.ends_with("_total") {
                    "counter"
                } else {
                    "gauge"
                };
                out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
                last = name;
            }
            out.push_str(&format!("{name}{{{labels}}} {value}\n"));
        }
        out
    }

    /// One log line with every non-zero counter.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .rows()
            .iter()
            .filter(|(name, _, v)| *v > 0 && name.ends_with("_total"))
            .map(|(name, labels, v)| {
                let label = labels.split('"').nth(1).unwrap_or(labels);
                let what = name.trim_start_matches("tally_").trim_end_matches("_total");
                format!("{what} {label}: {v}")
            })
            .collect();
        if parts.is_empty() {
            "no batches".into()
        } else {
            parts.join(", ")
        }
    }
}
