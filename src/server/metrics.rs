//! The ingest server's counters: batches stored and resent, requests
//! rejected by status, and what the validator dropped, by reason. Served at
//! `GET /metrics` in Prometheus' text format and summarised in the log at
//! shutdown and daily. Counts only: no addresses, ids or payloads.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::schema::validate::Drops;

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
    /// 503 answers.
    pub unavailable: AtomicU64,
    /// Events dropped for an unknown type.
    pub unknown_events: AtomicU64,
    /// Fields dropped as unknown.
    pub unknown_fields: AtomicU64,
    /// Values dropped as outside the schema.
    pub invalid_values: AtomicU64,
    /// Events dropped for a day outside the window.
    pub out_of_window: AtomicU64,
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

    fn rows(&self) -> [(&'static str, &'static str, u64); 12] {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
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
                    _ => "Events, fields and values the validator removed from accepted batches.",
                };
                out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
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
            .filter(|(_, _, v)| *v > 0)
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
