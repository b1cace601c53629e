//! The connector `system-tls` uses on macOS and Windows, run here over
//! native-tls's OpenSSL backend against a real TLS server on localhost
//! (rustls's, with certificates `openssl` makes for each test): what is
//! tally's own (the connection handed to the platform's TLS, its time
//! limits, reading and writing through ureq's buffers, the errors) is the
//! same code on every platform.

use std::path::Path;
use std::time::Duration;

use super::SystemTls;
use crate::deliver::system_tls::Roots;
use crate::deliver::test_certs::certificates;
use crate::deliver::test_tls_server::{plain_http_once, serve_once};

/// Posts a small body to `url` through the platform connector trusting
/// `roots`.
fn post(url: &str, roots: Roots) -> Result<u16, String> {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build();
    agent_over!(config, SystemTls { roots })
        .post(url)
        .header("content-type", "application/json")
        .send(&b"{\"batch\":1}"[..])
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

fn test_root(dir: &Path) -> Roots {
    Roots::File(dir.join("ca.pem"))
}

#[test]
fn the_platform_connector_posts_with_every_key_type_real_chains_use() {
    for newkey in [
        &["rsa:2048"][..],
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        certificates(dir.path(), newkey);
        let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS13]);
        let status = post(&format!("https://{addr}/v1/batch"), test_root(dir.path()));
        assert_eq!(status, Ok(204), "{newkey:?}");
        let seen = server.join().unwrap().unwrap();
        assert!(seen.contains("POST /v1/batch "), "{newkey:?}: {seen}");
        assert!(seen.ends_with("{\"batch\":1}"), "{newkey:?}: {seen}");
    }
}

#[test]
fn the_platform_connector_reaches_a_tls_1_2_server() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS12]);
    let status = post(&format!("https://{addr}/v1/batch"), test_root(dir.path()));
    assert_eq!(status, Ok(204));
    let seen = server.join().unwrap().unwrap();
    assert!(seen.starts_with("Some(TLSv1_2)\nPOST /v1/batch "), "{seen}");
}

#[test]
fn the_platform_connector_refuses_a_chain_the_systems_roots_do_not_know() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["rsa:2048"]);
    let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS13]);
    let err = post(&format!("https://{addr}/v1/batch"), Roots::System).unwrap_err();
    assert!(err.contains("TLS handshake with 127.0.0.1 failed"), "{err}");
    assert!(err.contains("certificate"), "{err}");
    assert!(server.join().unwrap().is_err(), "no request arrived");
}

#[test]
fn the_platform_connector_refuses_a_certificate_for_another_name() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["rsa:2048"]);
    let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS13]);
    let port = addr.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}/v1/batch");
    let err = post(&url, test_root(dir.path())).unwrap_err();
    assert!(err.contains("TLS handshake with localhost failed"), "{err}");
    assert!(server.join().unwrap().is_err(), "no request arrived");
}

#[test]
fn the_platform_connector_fails_on_a_peer_that_does_not_speak_tls() {
    let (addr, server) = plain_http_once();
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["rsa:2048"]);
    let err = post(&format!("https://{addr}/v1/batch"), test_root(dir.path())).unwrap_err();
    assert!(err.contains("TLS handshake with 127.0.0.1 failed"), "{err}");
    server.join().unwrap();
}

#[test]
fn schannels_refusals_are_put_in_words() {
    // What Wine's SChannel said for a certificate no root vouches for.
    let wine = "OS Error -2146762487 (FormatMessageW() returned error 317) (os error -2146762487)";
    assert!(
        super::in_words(wine)
            .unwrap()
            .contains("CERT_E_UNTRUSTEDROOT"),
        "{wine}"
    );
    assert!(
        super::in_words("(os error -2146762481)")
            .unwrap()
            .contains("another name")
    );
    // Anything else is left as the platform said it.
    assert_eq!(super::in_words("(os error 10061)"), None);
    assert_eq!(super::in_words("handshake failure"), None);
}
