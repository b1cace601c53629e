//! The OTLP/HTTP metrics export, for a program that re-exports counts it
//! holds to an operator's own OpenTelemetry collector (`tally serve
//! --otlp-endpoint` does, for what it accepted). The same encoding and the
//! same bounded client that a host's rollups take to the user's collector:
//! monotonic DELTA sums under the `tally` instrumentation scope, one
//! resource per entry, never a machine id.

use std::sync::Arc;

pub use crate::consent::otel::Protocol;
pub use crate::deliver::otlp_metrics::Totals;

use crate::consent::settings::Settings;
use crate::deliver::otlp_metrics as om;

/// The OTLP destination a [`Telemetry`](crate::Telemetry) resolved from the
/// `OTEL_*` environment and its own settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Destination {
    /// Whether rollups are exported at all.
    pub enabled: bool,
    /// The metrics URL, when one is configured.
    pub endpoint: Option<String>,
    /// The body encoding.
    pub protocol: Protocol,
    /// Headers to send with each export (values may be secrets).
    pub headers: Vec<(String, String)>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, decoded: added to every resource.
    pub resource_attributes: Vec<(String, String)>,
}

impl crate::Telemetry {
    /// Where this process's OTLP export goes, as resolved at `init`.
    pub fn otlp_destination(&self) -> Destination {
        let o = &self.settings().otlp;
        Destination {
            enabled: o.enabled,
            endpoint: o.endpoint.as_ref().map(|e| e.value.clone()),
            protocol: o.protocol.value,
            headers: o.headers.clone(),
            resource_attributes: o.resource_attributes.clone(),
        }
    }
}

/// One export request's body and its content type: a resource per entry of
/// `resources` (its attributes, and the totals summed over the window from
/// `start_nanos` to `end_nanos`, Unix nanoseconds).
pub fn encode(
    resources: &[(Vec<(String, String)>, &Totals)],
    start_nanos: u64,
    end_nanos: u64,
    protocol: Protocol,
) -> (Vec<u8>, &'static str) {
    let resources = resources
        .iter()
        .map(|(attrs, totals)| {
            let attrs = attrs.iter().map(|(k, v)| om::kv_str(k, v)).collect();
            (attrs, om::metrics(totals, start_nanos, end_nanos))
        })
        .collect();
    om::encode(&om::request(resources), protocol)
}

/// Posts export bodies with the library's bounded HTTP client (1 s to
/// connect, 2 s in all, no redirects, the proxy variables of the
/// environment the [`Telemetry`](crate::Telemetry) was resolved from).
#[derive(Clone, Debug)]
pub struct Client {
    settings: Arc<Settings>,
}

impl Client {
    /// A client that uses `telemetry`'s environment and policy.
    pub fn new(telemetry: &crate::Telemetry) -> Self {
        Client {
            settings: Arc::new(telemetry.settings().clone()),
        }
    }

    /// Posts `body`; the status and any `Retry-After` seconds, or what went
    /// wrong in words.
    pub fn post(
        &self,
        headers: &[(String, String)],
        endpoint: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<(u16, Option<u64>), String> {
        crate::deliver::otlp::post_with(&self.settings, headers, endpoint, body, content_type)
    }
}
