//! tally's TLS setup (rustls with tally's provider, or the platform's TLS
//! with `native-tls` alone) against a real TLS server on localhost
//! (rustls's own server, with certificates `openssl` makes for each test):
//! a post arrives over TLS 1.3 whatever key type the chain uses, and a
//! chain no root vouches for or a certificate for another name is refused;
//! with rustls, so is a server that only speaks TLS 1.2.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use ureq::tls::{PemItem, RootCerts, parse_pem};

use super::test_certs::certificates;
use super::{config, with_roots};

/// A TLS server for one connection with the chain in `dir`, speaking only
/// `versions`: answers a request with 204 and hands back what it read (or
/// the handshake's error).
fn serve_once(
    dir: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> (String, JoinHandle<Result<String, String>>) {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let conn = ServerConnection::new(Arc::new(server)).map_err(|e| e.to_string())?;
        let mut tls = StreamOwned::new(conn, tcp);
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // The request's head and its small body: until the body the
        // content-length announces has arrived.
        loop {
            let n = tls.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let want = head
                    .lines()
                    .find_map(|l| {
                        l.to_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= want {
                    break;
                }
            }
        }
        tls.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
            .map_err(|e| e.to_string())?;
        tls.conn.send_close_notify();
        tls.flush().ok();
        let version = format!("{:?}", tls.conn.protocol_version());
        Ok(format!("{version}\n{}", String::from_utf8_lossy(&seen)))
    });
    (format!("127.0.0.1:{port}"), handle)
}

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
