//! A real TLS server on localhost for the TLS tests (rustls's own server,
//! a dev-dependency, with certificates `openssl` makes for each test): one
//! connection, one request, answered with 204.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// A TLS server for one connection with the chain in `dir`, speaking only
/// `versions`: answers a request with 204 and hands back what it read (or
/// the handshake's error).
pub(crate) fn serve_once(
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

/// A plain HTTP server for one connection where an https one is expected:
/// it answers the ClientHello with plain text and closes. Its address, and
/// the thread to join.
#[allow(dead_code)] // the integration tests include this file and do not use it
pub(crate) fn plain_http_once() -> (std::net::SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        let mut buf = [0u8; 512];
        let _ = tcp.read(&mut buf);
        let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    });
    (addr, server)
}
