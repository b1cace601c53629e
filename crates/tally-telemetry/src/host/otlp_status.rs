//! The OTLP destination's part of `telemetry status`: whether the rollups
//! also go to the user's own collector, what decided it, where, how, and
//! what the exporter last did. Header values are never shown (they are
//! usually credentials), only their names.

use std::io::Write;

use serde_json::{Value, json};

use crate::consent::settings::Settings;

/// The exporter's record, when the feature is built and a state dir exists.
#[cfg(feature = "otlp")]
fn record(s: &Settings) -> Option<crate::deliver::otlp::Record> {
    s.paths
        .state()
        .map(|st| crate::deliver::otlp::read_head(&st))
}

#[cfg(not(feature = "otlp"))]
fn record(_: &Settings) -> Option<Progress> {
    None
}

#[cfg(not(feature = "otlp"))]
#[derive(Default)]
struct Progress {
    last_exported: Option<String>,
    last_exported_at: Option<String>,
    pending_days: Vec<String>,
    dropped_days: u64,
    backoff_until: i64,
    last_error: Option<String>,
}

/// `otlp` in `telemetry status --json`.
pub(crate) fn json(s: &Settings) -> Value {
    let o = &s.otlp;
    let rec = record(s).unwrap_or_default();
    json!({
        "enabled": o.enabled,
        "decided_by": o.decided_by,
        "reason": o.reason,
        "endpoint": o.endpoint.as_ref().map(|e| &e.value),
        "endpoint_source": o.endpoint.as_ref().map(|e| e.origin.to_string()),
        "protocol": o.protocol.value.as_str(),
        "protocol_source": o.protocol.origin.to_string(),
        "header_names": o.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "service_name": o.service_name.value,
        "service_name_source": o.service_name.origin.to_string(),
        "resource_attributes": o.resource_attributes.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "machine_id_sent": o.with_machine_id(),
        "last_exported_day": rec.last_exported,
        "last_exported_at": rec.last_exported_at,
        "pending_days": rec.pending_days,
        "dropped_days": rec.dropped_days,
        "backoff_until": (rec.backoff_until > s.clock.unix()).then_some(rec.backoff_until),
        "last_error": rec.last_error,
    })
}

/// The text lines of `telemetry status`.
pub(crate) fn text(s: &Settings, out: &mut dyn Write) -> std::io::Result<()> {
    let o = &s.otlp;
    writeln!(out, "  otlp:       {} [{}]", o.reason, o.decided_by)?;
    let Some(e) = &o.endpoint else {
        return Ok(());
    };
    writeln!(
        out,
        "              your own collector: {} ({})",
        e.value, e.origin
    )?;
    let names: Vec<&str> = o.headers.iter().map(|(k, _)| k.as_str()).collect();
    writeln!(
        out,
        "              {} ({}); headers: {}; service.name {} ({})",
        o.protocol.value.as_str(),
        o.protocol.origin,
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        },
        o.service_name.value,
        o.service_name.origin,
    )?;
    let id_var = s.app.var("OTEL_MACHINE_ID");
    match &o.machine_id {
        Some(m) if m.value => writeln!(
            out,
            "              machine id: sent as service.instance.id ({})",
            m.origin
        )?,
        _ => writeln!(
            out,
            "              machine id: never sent (set {id_var}=1 to send it)"
        )?,
    }
    let rec = record(s).unwrap_or_default();
    writeln!(
        out,
        "              last exported day: {}; days waiting: {}",
        rec.last_exported.as_deref().unwrap_or("none"),
        rec.pending_days.len()
    )?;
    if rec.dropped_days > 0 {
        writeln!(
            out,
            "              days dropped unexported: {}",
            rec.dropped_days
        )?;
    }
    if rec.backoff_until > s.clock.unix() {
        writeln!(
            out,
            "              backoff: after a failed export, the next background export waits until unix time {}",
            rec.backoff_until
        )?;
    }
    if let Some(err) = &rec.last_error {
        writeln!(out, "              last error: {err}")?;
    }
    Ok(())
}
