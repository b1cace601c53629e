//! The routes of `tally serve` and what each answers; the server around
//! them (accepting, connection limits, shutdown) is in `http.rs`.
//!
//! `POST /v1/batch` validates the body with the same
//! [`validate`] the schema tests use: wrong
//! structure or JSON types are a 400 with a one-line reason; unknown events,
//! fields and out-of-allowlist values are dropped and counted, and the rest
//! is stored; the answer is 204 only after the transaction holding the
//! batch committed. A resent `batch_id` is a 204 without a second copy.
//!
//! Health: `GET /livez` (also `/healthz`) is liveness, `GET /readyz`
//! readiness; while the store is known down every batch gets 503 at once
//! ([`crate::server::health`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use tally_telemetry::schema::Timestamp;

use crate::server::admission::{Admission, Refusal};
use crate::server::conn::{ConnTag, Phase};
use crate::server::health::Health;
use crate::server::metrics::Metrics;
use crate::server::proxy::TrustedProxies;
use crate::server::ratelimit::RateLimiter;
use crate::server::store::Ingested;
use crate::server::writer::WriterHandle;
use tally_telemetry::schema::validate::validate;
use tally_telemetry::schema::{BATCH_PATH, MAX_BODY_BYTES, SCHEMA_VERSION};

/// `Retry-After` when the store is unavailable.
const RETRY_UNAVAILABLE_SECS: u64 = 60;

/// What request handlers share.
#[derive(Clone)]
pub(super) struct AppState {
    pub(super) writer: WriterHandle,
    pub(super) limiter: Arc<RateLimiter>,
    pub(super) admission: Arc<Admission>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) health: Arc<Health>,
    pub(super) body_timeout: Duration,
    pub(super) store_timeout: Duration,
    pub(super) trusted: Arc<TrustedProxies>,
    pub(super) otlp: Option<crate::server::otlp_export::Feed>,
}

/// The routes, without the connection handling around them.
pub(super) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(livez))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(BATCH_PATH, post(batch))
        .fallback(not_found)
        .with_state(state)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut body = body.into();
    body.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A response after which the connection is closed (its request body was
/// not read to the end, so the stream is not at a request boundary).
fn closing(status: StatusCode, body: &str) -> Response {
    let mut r = text(status, body);
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// A refusal with a `Retry-After`, closing the connection (the body was not
/// read).
fn refuse(status: StatusCode, body: &str, wait: Duration) -> Response {
    let mut r = closing(status, body);
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(wait.as_secs().max(1)),
    );
    r
}

async fn index() -> Response {
    text(
        StatusCode::OK,
        format!(
            "tally ingest endpoint.\n\nApplications that use tally post anonymous, aggregated usage batches (JSON, schema version {SCHEMA_VERSION}) to POST {BATCH_PATH}.\nEvery event and field that may be sent is documented in TELEMETRY.md; anything else is dropped on arrival.\nNo addresses are stored or logged."
        ),
    )
}

/// Liveness: the process serves and its writer runs. Not the store: a
/// restart cures neither a full disk nor a dead ClickHouse.
async fn livez(State(st): State<AppState>) -> Response {
    if st.writer.alive() {
        text(StatusCode::OK, "ok")
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store writer stopped; restart tally serve",
        )
    }
}

/// Readiness: live, and the store is known to take writes.
async fn readyz(State(st): State<AppState>) -> Response {
    if !st.writer.alive() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the store writer stopped; restart tally serve",
        );
    }
    match st.health.reason() {
        None => text(StatusCode::OK, "ready"),
        Some(why) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the store cannot take writes: {why}"),
        ),
    }
}

/// 503 with `Retry-After` for a batch the store did not take.
fn unavailable(body: &str) -> Response {
    let mut r = text(StatusCode::SERVICE_UNAVAILABLE, body);
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(RETRY_UNAVAILABLE_SECS),
    );
    r
}

async fn metrics(State(st): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.prometheus(),
    )
        .into_response()
}

async fn not_found() -> Response {
    text(
        StatusCode::NOT_FOUND,
        format!("not found; batches go to POST {BATCH_PATH}"),
    )
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

enum BodyError {
    TooLarge,
    Broken,
}

async fn read_body(mut body: Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Broken)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(BodyError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

async fn batch(State(st): State<AppState>, req: Request) -> Response {
    let m = &st.metrics;
    let tag = req.extensions().get::<ConnTag>().cloned();
    // Admission comes before anything is read or parsed, so a refused
    // flood costs only this check.
    let source = match &tag {
        // A trusted proxy names the client; without a usable name, the
        // proxy itself is the source.
        Some(t) if t.0.trusted => st
            .trusted
            .client(req.headers())
            .map_or(t.0.source(), |ip| t.0.source_of(ip)),
        Some(t) => t.0.source(),
        None => 0,
    };
    // The circuit is open: nothing would be stored, so nothing is read.
    if st.health.is_open() {
        m.unavailable.fetch_add(1, Ordering::Relaxed);
        st.health.refused_while_down.fetch_add(1, Ordering::Relaxed);
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store is unavailable; retry later",
            Duration::from_secs(RETRY_UNAVAILABLE_SECS),
        );
    }
    match st.admission.check(source, Instant::now()) {
        Ok(()) => {}
        Err(Refusal::Busy(wait)) => {
            m.over_global.fetch_add(1, Ordering::Relaxed);
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is at its batch limit; retry later",
                wait,
            );
        }
        Err(Refusal::Source(wait)) => {
            m.over_source.fetch_add(1, Ordering::Relaxed);
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "too many batches from this address; retry later",
                wait,
            );
        }
    }
    if !is_json(req.headers()) {
        m.wrong_type.fetch_add(1, Ordering::Relaxed);
        return closing(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the batch with Content-Type: application/json",
        );
    }
    let too_large = format!("the body is larger than {MAX_BODY_BYTES} bytes");
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        m.too_large.fetch_add(1, Ordering::Relaxed);
        return closing(StatusCode::PAYLOAD_TOO_LARGE, &too_large);
    }
    let body =
        match tokio::time::timeout(st.body_timeout, read_body(req.into_body(), MAX_BODY_BYTES))
            .await
        {
            Err(_) => {
                m.timeouts.fetch_add(1, Ordering::Relaxed);
                return closing(
                    StatusCode::REQUEST_TIMEOUT,
                    "the body did not arrive in time",
                );
            }
            Ok(Err(BodyError::TooLarge)) => {
                m.too_large.fetch_add(1, Ordering::Relaxed);
                return closing(StatusCode::PAYLOAD_TOO_LARGE, &too_large);
            }
            Ok(Err(BodyError::Broken)) => {
                m.bad_request.fetch_add(1, Ordering::Relaxed);
                return closing(StatusCode::BAD_REQUEST, "the body could not be read");
            }
            Ok(Ok(b)) => b,
        };
    if let Some(t) = &tag {
        // The body is in: from here on this connection is never cut off to
        // make room.
        t.0.set(Phase::Working);
    }
    let today = Timestamp::now().date();
    let validated = match validate(&body, today) {
        Ok(v) => v,
        Err(reject) => {
            m.bad_request.fetch_add(1, Ordering::Relaxed);
            let reason = reject.0.replace(['\n', '\r'], " ");
            return text(StatusCode::BAD_REQUEST, format!("rejected: {reason}"));
        }
    };
    // The validator accepted only a hyphenated UUID here.
    let machine = uuid::Uuid::try_parse(&validated.batch.envelope.machine_id)
        .map(|u| u.as_u128())
        .unwrap_or_default();
    if let Err(wait) = st.limiter.check(machine, Instant::now()) {
        m.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut r = text(
            StatusCode::TOO_MANY_REQUESTS,
            "too many batches from this machine; retry later",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
        return r;
    }
    let drops = validated.drops;
    let accepted = st
        .otlp
        .as_ref()
        .map(|_| crate::server::otlp_export::Accepted::of(&validated.batch));
    match tokio::time::timeout(st.store_timeout, st.writer.ingest(validated, today)).await {
        Ok(Ok(outcome)) => {
            match outcome {
                Ingested::Stored => {
                    m.stored.fetch_add(1, Ordering::Relaxed);
                    m.add_drops(&drops);
                    if let (Some(feed), Some(a)) = (&st.otlp, accepted) {
                        feed.offer(a);
                    }
                }
                Ingested::Duplicate => {
                    m.duplicates.fetch_add(1, Ordering::Relaxed);
                }
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(Err(_)) => {
            // The writer marked the store down already.
            m.unavailable.fetch_add(1, Ordering::Relaxed);
            unavailable("the store is unavailable; retry later")
        }
        Err(_) => {
            m.unavailable.fetch_add(1, Ordering::Relaxed);
            st.health.fail(&format!(
                "no acknowledgement from the store within --store-timeout {} ms",
                st.store_timeout.as_millis()
            ));
            unavailable("the store did not answer in time; retry later")
        }
    }
}
