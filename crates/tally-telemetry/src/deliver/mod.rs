//! Delivery: sending the completed days in the spool to the product's
//! endpoint, bounded in time and size, exactly once per batch id, from a
//! detached helper process so that even a CLI of 2 ms commands delivers on
//! the first run after a day completes without making anyone wait; and,
//! with the `otlp` feature, the same counts to the user's own collector.

pub mod endpoint;
pub mod guard;
pub mod helper;
pub mod helper_run;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "otlp")]
pub mod otlp_metrics;
pub mod proxy;
pub mod sender;
// Built where it is the TLS stack sends use (neither rustls nor native-tls
// chosen), and for its tests.
#[cfg(all(
    feature = "system-tls",
    any(test, not(any(feature = "rustls", feature = "native-tls")))
))]
mod system_tls;
#[cfg(test)]
mod test_certs;
#[cfg(test)]
mod test_tls_server;
pub mod testing;
#[cfg(any(feature = "rustls", feature = "native-tls"))]
mod tls;

use std::fs::File;

use crate::consent::settings::Settings;
use sender::{Mode, Outcome};

/// Everything that is sent when a day completes, in one place: the user's
/// own OpenTelemetry collector (with the `otlp` feature), then the product
/// endpoint's batches. Both ride on the same helper, consent check and
/// panic guard.
///
/// A panic inside is caught (never printed on the host's stderr), recorded
/// as the last error, and backed off.
pub fn deliver_due(settings: &Settings, mode: Mode, held: Option<File>) -> Outcome {
    deliver_due_reporting(settings, mode, held).1
}

/// What the export to the user's own collector did, in words: a result
/// (`exported`, `failed`, `busy`, `backed_off`, `printed`) and a sentence.
pub type ExportWords = (&'static str, String);

/// [`deliver_due`], also saying what the export to the user's own
/// collector did (`None` when that destination is off): `flush` with only
/// a collector configured once said `no_endpoint` and nothing about it.
pub fn deliver_due_reporting(
    settings: &Settings,
    mode: Mode,
    held: Option<File>,
) -> (Option<ExportWords>, Outcome) {
    let attempt = || {
        // The collector first, while the completed days are still in the
        // spool; it has its own switch, record and backoff.
        #[cfg(feature = "otlp")]
        let export = otlp::words(
            settings,
            &otlp::export_due(settings, mode == Mode::Foreground),
        );
        #[cfg(not(feature = "otlp"))]
        let export = None;
        (export, sender::send_with_lock(settings, mode, held))
    };
    match guard::catching(attempt) {
        Ok(done) => done,
        Err(panic) => (None, sender::record_panic(settings, &panic)),
    }
}
