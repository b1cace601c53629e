//! The system's OpenSSL (Debian's libssl3 here), loaded at run time,
//! against a real TLS server on localhost (rustls's own, with certificates
//! `openssl` makes for each test): a post arrives whatever key type the
//! chain uses, over TLS 1.3 or 1.2; a chain no root vouches for, a
//! certificate for another name and a peer that does not speak TLS are
//! errors, and the system's roots are OpenSSL's, `SSL_CERT_FILE` included.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{Roots, agent};
use crate::deliver::test_certs::certificates;
use crate::deliver::test_tls_server::{plain_http_once, serve_once};

/// Posts a small body to `url` through the system's OpenSSL trusting
/// `roots`, as the sender does.
fn post(url: &str, roots: Roots) -> Result<u16, String> {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build();
    agent(config, roots)
        .post(url)
        .header("content-type", "application/json")
        .send(&b"{\"batch\":1}"[..])
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

/// The test CA of `dir` as the only root.
fn test_root(dir: &Path) -> Roots {
    Roots::File(dir.join("ca.pem"))
}

#[test]
fn posts_through_the_systems_openssl_with_every_key_type_real_chains_use() {
    for newkey in [
        &["rsa:2048"][..],
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        &["ed25519"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        certificates(dir.path(), newkey);
        let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS13]);
        let status = post(&format!("https://{addr}/v1/batch"), test_root(dir.path()));
        assert_eq!(status, Ok(204), "{newkey:?}");
        let seen = server.join().unwrap().unwrap();
        assert!(
            seen.starts_with("Some(TLSv1_3)\nPOST /v1/batch "),
            "{newkey:?}: {seen}"
        );
        assert!(seen.ends_with("{\"batch\":1}"), "{newkey:?}: {seen}");
    }
}

#[test]
fn a_server_that_speaks_only_tls_1_2_is_still_reached() {
    // OpenSSL carries TLS 1.2 anyway, so unlike tally's rustls provider
    // nothing is saved by refusing it.
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS12]);
    let status = post(&format!("https://{addr}/v1/batch"), test_root(dir.path()));
    assert_eq!(status, Ok(204));
    let seen = server.join().unwrap().unwrap();
    assert!(seen.starts_with("Some(TLSv1_2)\nPOST /v1/batch "), "{seen}");
}

#[test]
fn a_chain_the_systems_roots_do_not_vouch_for_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["rsa:2048"]);
    let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS13]);
    // What every send trusts: the system's roots, which know no test CA.
    let err = post(&format!("https://{addr}/v1/batch"), Roots::System).unwrap_err();
    assert!(
        err.contains("the certificate of 127.0.0.1 was refused"),
        "{err}"
    );
    assert!(err.contains("issuer certificate"), "{err}");
    assert!(server.join().unwrap().is_err(), "no request arrived");
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS13]);
    // The certificate names 127.0.0.1 only.
    let port = addr.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}/v1/batch");
    let err = post(&url, test_root(dir.path())).unwrap_err();
    assert!(
        err.contains("the certificate of localhost was refused"),
        "{err}"
    );
    assert!(err.contains("mismatch"), "{err}");
    assert!(server.join().unwrap().is_err(), "no request arrived");
}

#[test]
fn a_peer_that_does_not_speak_tls_is_an_error_not_a_hang() {
    let (addr, server) = plain_http_once();
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["rsa:2048"]);
    let err = post(&format!("https://{addr}/v1/batch"), test_root(dir.path())).unwrap_err();
    assert!(err.contains("TLS handshake with 127.0.0.1 failed"), "{err}");
    server.join().unwrap();
}

#[test]
fn a_silent_peer_times_out_within_the_request_limit() {
    // A server that accepts and never answers the handshake.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["rsa:2048"]);
    let started = std::time::Instant::now();
    let err = post(&format!("https://{addr}/v1/batch"), test_root(dir.path())).unwrap_err();
    assert!(
        err.contains("timeout") || err.contains("timed out"),
        "{err}"
    );
    // The limit is 5 s; a hang would be stopped by the harness instead.
    assert!(started.elapsed() < Duration::from_secs(30), "{err}");
    drop(listener);
}

/// The child half of [`the_systems_roots_are_openssls_ssl_cert_file_included`]:
/// posts with the system's roots to the URL it is given.
#[test]
fn system_roots_child() {
    let Ok(url) = std::env::var("TALLY_SYSTEM_TLS_CHILD_URL") else {
        return;
    };
    assert_eq!(post(&url, Roots::System), Ok(204));
}

#[test]
fn the_systems_roots_are_openssls_ssl_cert_file_included() {
    // A company CA that an admin adds the way OpenSSL reads it: through
    // SSL_CERT_FILE. It is set in a child process: the environment is the
    // whole process's.
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["rsa:2048"]);
    let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS13]);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "deliver::system_tls::tests::system_roots_child",
            "--nocapture",
        ])
        .env(
            "TALLY_SYSTEM_TLS_CHILD_URL",
            format!("https://{addr}/v1/batch"),
        )
        .env("SSL_CERT_FILE", dir.path().join("ca.pem"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
    let seen = server.join().unwrap().unwrap();
    assert!(seen.contains("POST /v1/batch "), "{seen}");
}

/// What a host built with `system-tls` alone sends through: the sender's
/// own agent, which must be the system's OpenSSL with the system's roots
/// (this message is system_tls's own; ureq without a TLS stack would say
/// that TLS is not available).
#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
#[test]
fn the_senders_agent_goes_through_the_systems_openssl() {
    use crate::consent::app::{AppInfo, DefaultPolicy};
    use crate::consent::paths::Paths;
    use crate::consent::settings::{Flags, resolve};
    use crate::os::env::Env;

    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["rsa:2048"]);
    let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS13]);
    let url = format!("https://{addr}/v1/batch");
    let app = AppInfo {
        endpoint: Some(url.clone()),
        default_policy: DefaultPolicy::OptOut,
        ..AppInfo::named("demo")
    };
    let paths = Paths::explicit(
        dir.path().join("telemetry.toml"),
        dir.path().join("state"),
        dir.path().join("policy.toml"),
    );
    let settings = resolve(app, Env::default(), Flags::default(), Some(paths));
    let err = crate::deliver::sender::agent(&settings, &url)
        .unwrap()
        .post(&url)
        .send(&b"{}"[..])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the certificate of 127.0.0.1 was refused"),
        "{err}"
    );
    assert!(server.join().unwrap().is_err(), "no request arrived");
}
