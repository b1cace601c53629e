//! tally's TLS setup (rustls with tally's provider, or the platform's TLS
//! with `native-tls` alone) against a real TLS server on localhost
//! (rustls's own server, with certificates `openssl` makes for each test):
//! a post arrives over TLS 1.3 whatever key type the chain uses, and a
//! chain no root vouches for or a certificate for another name is refused;
//! with rustls, so is a server that only speaks TLS 1.2.

use std::path::Path;
use std::time::Duration;

#[cfg(feature = "rustls")]
use rustls::pki_types::PrivateKeyDer;
use ureq::tls::{PemItem, RootCerts, parse_pem};

use super::{config, with_roots};
use crate::deliver::test_certs::certificates;
use crate::deliver::test_tls_server::serve_once;

/// The test CA of `dir` as the only root.
fn test_root(dir: &Path) -> RootCerts {
    let pem = std::fs::read(dir.join("ca.pem")).unwrap();
    let certs: Vec<_> = parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    RootCerts::new_with_certs(&certs)
}

/// Posts a small body to `url` with `tls`, as the sender does.
fn post(url: &str, tls: ureq::tls::TlsConfig) -> Result<u16, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .tls_config(tls)
        .build()
        .into();
    agent
        .post(url)
        .header("content-type", "application/json")
        .send(&b"{\"batch\":1}"[..])
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

#[test]
fn posts_over_tls_1_3_with_every_key_type_real_chains_use() {
    for newkey in [
        &["rsa:2048"][..],
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        &["ed25519"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        certificates(dir.path(), newkey);
        let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS13]);
        let status = post(
            &format!("https://{addr}/v1/batch"),
            with_roots(test_root(dir.path())),
        );
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
fn a_chain_no_root_vouches_for_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS13]);
    // What every send uses: the webpki roots (or the platform's), which
    // know no test CA.
    let err = post(&format!("https://{addr}/v1/batch"), config()).unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(server.join().unwrap().is_err(), "no request arrived");
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["rsa:2048"]);
    let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS13]);
    // The certificate names 127.0.0.1 only.
    let port = addr.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}/v1/batch");
    let err = post(&url, with_roots(test_root(dir.path()))).unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(server.join().unwrap().is_err(), "no request arrived");
}

#[cfg(feature = "rustls")]
#[test]
fn a_server_that_speaks_only_tls_1_2_is_refused() {
    // The choice the README states: TLS 1.3 only, which keeps the TLS 1.2
    // suites' code out of every host.
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let (addr, server) = serve_once(dir.path(), &[&rustls::version::TLS12]);
    let url = format!("https://{addr}/v1/batch");
    let err = post(&url, with_roots(test_root(dir.path()))).unwrap_err();
    assert!(err.to_lowercase().contains("version"), "{err}");
    assert!(server.join().unwrap().is_err(), "no request arrived");
}

#[cfg(feature = "rustls")]
#[test]
fn no_private_key_is_ever_loaded() {
    let provider = super::provider();
    let der = PrivateKeyDer::Pkcs8(vec![0u8; 8].into());
    assert!(provider.key_provider.load_private_key(der).is_err());
    assert!(
        provider
            .cipher_suites
            .iter()
            .all(|s| s.version() == &rustls::version::TLS13)
    );
}
