//! The second destination: the user's own OpenTelemetry collector. Resolved
//! once from the environment snapshot with the standard `OTEL_*` variables,
//! each value tagged with its origin, and switched on by its own rule,
//! apart from product-analytics consent: configuring an OTLP endpoint is the
//! user asking for their own data in their own collector. What still wins
//! over it: an admin policy that forces telemetry off (or cannot be read),
//! `DO_NOT_TRACK`, `--no-telemetry` on this run, and `OTEL_SDK_DISABLED=true`.

use crate::consent::app::AppInfo;
use crate::consent::origin::{Origin, Sourced};
use crate::consent::policy::PolicyState;
use crate::consent::precedence::do_not_track;
use crate::os::env::{Env, parse_switch};

/// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`: the metrics URL, used as is.
pub const METRICS_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
/// `OTEL_EXPORTER_OTLP_ENDPOINT`: the base URL, `/v1/metrics` appended.
pub const ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Headers sent with every export (`k=v,k2=v2`, URL-encoded values).
pub const HEADERS_VAR: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// Signal-specific headers, which win over [`HEADERS_VAR`] key by key.
pub const METRICS_HEADERS_VAR: &str = "OTEL_EXPORTER_OTLP_METRICS_HEADERS";
/// `http/protobuf` (default) or `http/json`.
pub const PROTOCOL_VAR: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// Signal-specific protocol, which wins over [`PROTOCOL_VAR`].
pub const METRICS_PROTOCOL_VAR: &str = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL";
/// The `service.name` resource attribute.
pub const SERVICE_NAME_VAR: &str = "OTEL_SERVICE_NAME";
/// Extra resource attributes (`k=v,…`, URL-encoded values).
pub const RESOURCE_ATTRIBUTES_VAR: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// `true` turns every OpenTelemetry export off.
pub const SDK_DISABLED_VAR: &str = "OTEL_SDK_DISABLED";

/// How the request body is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (the OTLP JSON mapping).
    Json,
}

impl Protocol {
    /// The value of `OTEL_EXPORTER_OTLP_PROTOCOL` that selects it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Protobuf => "http/protobuf",
            Protocol::Json => "http/json",
        }
    }
}

/// The OTLP destination as resolved for this process.
#[derive(Clone, Debug)]
pub struct OtlpSettings {
    /// Whether rollups are exported to the collector.
    pub enabled: bool,
    /// The stable word for what decided (`telemetry status --json`).
    pub decided_by: &'static str,
    /// What decided, for people.
    pub reason: String,
    /// The metrics URL, when one is configured.
    pub endpoint: Option<Sourced<String>>,
    /// The body encoding.
    pub protocol: Sourced<Protocol>,
    /// Headers to send (values may be secrets: status shows names only).
    pub headers: Vec<(String, String)>,
    /// `service.name`.
    pub service_name: Sourced<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, decoded.
    pub resource_attributes: Vec<(String, String)>,
    /// `<PREFIX>_OTEL_MACHINE_ID=1`: the user asked for the machine id as
    /// `service.instance.id`.
    pub machine_id: Option<Sourced<bool>>,
}

/// Whether the export code is compiled in (the `otlp` cargo feature).
pub const BUILT: bool = cfg!(feature = "otlp");

/// Resolves the OTLP destination. `no_telemetry_flag` is this run's
/// `--no-telemetry`.
pub fn resolve(
    app: &AppInfo,
    env: &Env,
    policy: &PolicyState,
    no_telemetry_flag: bool,
    warnings: &mut Vec<String>,
) -> OtlpSettings {
    let endpoint = env
        .non_empty(METRICS_ENDPOINT_VAR)
        .map(|e| Sourced {
            value: e.to_owned(),
            origin: Origin::Env(METRICS_ENDPOINT_VAR.into()),
        })
        .or_else(|| {
            env.non_empty(ENDPOINT_VAR).map(|e| Sourced {
                value: format!("{}/v1/metrics", e.trim_end_matches('/')),
                origin: Origin::Env(ENDPOINT_VAR.into()),
            })
        });
    let protocol = [METRICS_PROTOCOL_VAR, PROTOCOL_VAR]
        .iter()
        .find_map(|var| {
            let v = env.non_empty(var)?;
            match v {
                "http/protobuf" => Some((Protocol::Protobuf, var)),
                "http/json" => Some((Protocol::Json, var)),
                other => {
                    warnings.push(format!(
                        "{var}={other:?} is not supported (use http/protobuf or http/json); ignored"
                    ));
                    None
                }
            }
        })
        .map_or(
            Sourced {
                value: Protocol::Protobuf,
                origin: Origin::Default,
            },
            |(p, var)| Sourced {
                value: p,
                origin: Origin::Env((*var).into()),
            },
        );
    let mut headers = parse_pairs(env.get(HEADERS_VAR).unwrap_or(""), HEADERS_VAR, warnings);
    for (k, v) in parse_pairs(
        env.get(METRICS_HEADERS_VAR).unwrap_or(""),
        METRICS_HEADERS_VAR,
        warnings,
    ) {
        headers.retain(|(old, _)| !old.eq_ignore_ascii_case(&k));
        headers.push((k, v));
    }
    let resource_attributes = parse_pairs(
        env.get(RESOURCE_ATTRIBUTES_VAR).unwrap_or(""),
        RESOURCE_ATTRIBUTES_VAR,
        warnings,
    );
    let service_name = match env.non_empty(SERVICE_NAME_VAR) {
        Some(n) => Sourced {
            value: n.to_owned(),
            origin: Origin::Env(SERVICE_NAME_VAR.into()),
        },
        None => Sourced {
            value: app.name.clone(),
            origin: Origin::Builder,
        },
    };
    let id_var = app.var("OTEL_MACHINE_ID");
    let machine_id = env.non_empty(&id_var).map(|v| Sourced {
        value: parse_switch(v).unwrap_or_else(|| {
            warnings.push(format!(
                "{id_var}={v:?} is not understood; the machine id stays out"
            ));
            false
        }),
        origin: Origin::Env(id_var.clone()),
    });

    let sdk_disabled = env.non_empty(SDK_DISABLED_VAR);
    let (enabled, decided_by, reason) = match policy {
        PolicyState::Loaded {
            force_off: true, ..
        }
        | PolicyState::Broken(_) => (
            false,
            "policy",
            "disabled by the system policy file, which turns every destination off".to_owned(),
        ),
        _ if do_not_track(env).is_some() => (
            false,
            "do_not_track",
            "disabled by DO_NOT_TRACK, which turns every destination off".to_owned(),
        ),
        _ if no_telemetry_flag => (
            false,
            "flag",
            "disabled by --no-telemetry on this run".to_owned(),
        ),
        _ if sdk_disabled.is_some_and(|v| v.eq_ignore_ascii_case("true")) => (
            false,
            "otel_sdk_disabled",
            format!("disabled by {SDK_DISABLED_VAR}=true"),
        ),
        _ if endpoint.is_none() => (
            false,
            "not_configured",
            format!("disabled: neither {METRICS_ENDPOINT_VAR} nor {ENDPOINT_VAR} is set"),
        ),
        _ if !endpoint
            .as_ref()
            .is_some_and(|e| e.value.starts_with("http://") || e.value.starts_with("https://")) =>
        {
            let e = endpoint.as_ref().map(|e| e.value.as_str()).unwrap_or("");
            warnings.push(format!(
                "the OTLP endpoint {e:?} is not an http:// or https:// URL; nothing is exported"
            ));
            (
                false,
                "invalid_endpoint",
                "disabled: the OTLP endpoint is not an http(s) URL".to_owned(),
            )
        }
        _ if !BUILT => (
            false,
            "not_built",
            "disabled: this build leaves out the `otlp` feature".to_owned(),
        ),
        _ => {
            let origin = endpoint
                .as_ref()
                .map(|e| e.origin.to_string())
                .unwrap_or_default();
            (
                true,
                "otel_env",
                format!(
                    "enabled by {origin}: your own collector, whatever the product-analytics choice"
                ),
            )
        }
    };
    OtlpSettings {
        enabled,
        decided_by,
        reason,
        endpoint,
        protocol,
        headers,
        service_name,
        resource_attributes,
        machine_id,
    }
}

impl OtlpSettings {
    /// Whether the user asked for the machine id in the resource.
    pub fn with_machine_id(&self) -> bool {
        self.machine_id.as_ref().is_some_and(|m| m.value)
    }
}

/// Parses the W3C-baggage-like `k=v,k2=v2` lists of `OTEL_EXPORTER_OTLP_HEADERS`
/// and `OTEL_RESOURCE_ATTRIBUTES`: keys and values trimmed, values
/// URL-decoded, malformed entries skipped with a warning (that names the
/// variable, never the value, which may be a secret).
pub fn parse_pairs(raw: &str, var: &str, warnings: &mut Vec<String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, item) in raw.split(',').enumerate() {
        if item.trim().is_empty() {
            continue;
        }
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => match percent_decode(v.trim()) {
                Some(v) => out.push((k.trim().to_owned(), v)),
                None => warnings.push(format!(
                    "{var}: entry {} has a value that is not valid URL encoding; skipped",
                    i + 1
                )),
            },
            _ => warnings.push(format!("{var}: entry {} is not key=value; skipped", i + 1)),
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppInfo {
        AppInfo {
            version: "1.0.0".into(),
            ..AppInfo::named("mytool")
        }
    }

    fn run(pairs: &[(&str, &str)]) -> (OtlpSettings, Vec<String>) {
        let mut w = Vec::new();
        let env = Env::from_pairs(pairs.iter().copied());
        (
            resolve(&app(), &env, &PolicyState::Absent, false, &mut w),
            w,
        )
    }

    #[test]
    fn metrics_endpoint_wins_and_base_gets_the_path() {
        let (s, _) = run(&[(ENDPOINT_VAR, "http://c:4318/")]);
        assert_eq!(s.endpoint.unwrap().value, "http://c:4318/v1/metrics");
        let (s, _) = run(&[
            (ENDPOINT_VAR, "http://c:4318"),
            (METRICS_ENDPOINT_VAR, "http://m:9/custom"),
        ]);
        assert_eq!(s.endpoint.unwrap().value, "http://m:9/custom");
        assert_eq!(s.enabled, BUILT);
    }

    #[test]
    fn headers_and_attributes_are_url_decoded() {
        let mut w = Vec::new();
        let p = parse_pairs("a=b%3Dc, Api-Key = x%20y ,bad,=v,z=%zz", "H", &mut w);
        assert_eq!(
            p,
            vec![("a".into(), "b=c".into()), ("Api-Key".into(), "x y".into())]
        );
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w.iter().all(|m| !m.contains("zz")), "a value leaked: {w:?}");
    }

    #[test]
    fn what_turns_it_off() {
        let base = (ENDPOINT_VAR, "http://c:4318");
        assert_eq!(
            run(&[base, (SDK_DISABLED_VAR, "TRUE")]).0.decided_by,
            "otel_sdk_disabled"
        );
        assert_eq!(
            run(&[base, ("DO_NOT_TRACK", "1")]).0.decided_by,
            "do_not_track"
        );
        assert_eq!(run(&[]).0.decided_by, "not_configured");
        assert_eq!(
            run(&[(ENDPOINT_VAR, "ftp://x")]).0.decided_by,
            "invalid_endpoint"
        );
        let mut w = Vec::new();
        let env = Env::from_pairs([base]);
        let forced = PolicyState::Loaded {
            force_off: true,
            endpoint: None,
            rotation: None,
            allow_plain_http: false,
        };
        assert!(!resolve(&app(), &env, &forced, false, &mut w).enabled);
        assert!(!resolve(&app(), &env, &PolicyState::Absent, true, &mut w).enabled);
    }

    #[test]
    fn protocol_and_machine_id_opt_in() {
        let (s, _) = run(&[(PROTOCOL_VAR, "http/json")]);
        assert_eq!(s.protocol.value, Protocol::Json);
        let (s, w) = run(&[(PROTOCOL_VAR, "grpc")]);
        assert_eq!(s.protocol.value, Protocol::Protobuf);
        assert_eq!(w.len(), 1);
        assert!(!run(&[]).0.with_machine_id());
        assert!(run(&[("MYTOOL_OTEL_MACHINE_ID", "1")]).0.with_machine_id());
    }
}
