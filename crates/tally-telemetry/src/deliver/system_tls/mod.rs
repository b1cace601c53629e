//! TLS through the operating system's own library, which tally never
//! links: the `system-tls` feature. On Linux and the other Unix systems
//! but macOS, the system's OpenSSL, loaded with `dlopen` by the first send
//! to an `https://` endpoint (`openssl.rs`); on macOS and Windows, the
//! platform's TLS through native-tls (Security.framework, SChannel), which
//! ship with the system (`native.rs`). Either way the system's trusted
//! roots check the certificate, and ureq keeps the proxies, the timeouts
//! and the connection limits: only the TLS connector at the end of its
//! chain is tally's.

use std::io;
use std::path::PathBuf;

use ureq::unversioned::transport::{ConnectionDetails, LazyBuffers, Transport, TransportAdapter};

/// An agent over ureq's own chain of connectors (SOCKS or HTTP CONNECT
/// proxy, then TCP) that ends in the TLS connector `$tls`.
macro_rules! agent_over {
    ($config:expr, $tls:expr) => {{
        use ureq::unversioned::transport::{
            ConnectProxyConnector, Connector, SocksConnector, TcpConnector,
        };
        ureq::Agent::with_parts(
            $config,
            ().chain(SocksConnector::default())
                .chain(ConnectProxyConnector::default())
                .chain(TcpConnector::default())
                .chain($tls),
            ureq::unversioned::resolver::DefaultResolver::default(),
        )
    }};
}

// The platform's TLS; on Linux too in the tests, where native-tls (a
// dev-dependency there) is OpenSSL, so the glue macOS and Windows run is
// tested for real here as well.
#[cfg(any(windows, target_vendor = "apple", test))]
mod native;
#[cfg(not(any(windows, target_vendor = "apple")))]
mod openssl;

#[cfg(any(windows, target_vendor = "apple"))]
use native::SystemTls;
#[cfg(not(any(windows, target_vendor = "apple")))]
use openssl::SystemTls;

/// The certificates a connection trusts.
#[derive(Debug, Clone)]
pub(crate) enum Roots {
    /// The system's (OpenSSL's default paths, the Keychain, the Windows
    /// certificate store): every send.
    System,
    /// Only the PEM file's (the tests' own certificate authority).
    #[cfg_attr(not(test), allow(dead_code))]
    File(PathBuf),
}

/// An agent whose `https://` connections go through the system's TLS,
/// over the same chain of connectors as ureq's own.
pub(crate) fn agent(config: ureq::config::Config, roots: Roots) -> ureq::Agent {
    agent_over!(config, SystemTls { roots })
}

/// The host an `https://` connection's certificate is checked against,
/// or `None` when `transport` is not for tally's TLS to wrap: not https,
/// or TLS already.
fn to_wrap<'a>(details: &'a ConnectionDetails, transport: &impl Transport) -> Option<&'a str> {
    if !details.needs_tls() || transport.is_tls() {
        return None;
    }
    let host = details.uri.host().unwrap_or_default();
    // An IPv6 address comes in brackets.
    Some(host.trim_start_matches('[').trim_end_matches(']'))
}

/// `transport` as a stream for the handshake, bounded by the connection's
/// time limit.
fn adapter(details: &ConnectionDetails, transport: impl Transport) -> TransportAdapter {
    let mut io = TransportAdapter::new(transport.boxed(), details.current_time.clone());
    io.set_timeout(details.timeout);
    io
}

/// The plaintext buffers of a wrapped connection, sized as ureq's own.
fn buffers(details: &ConnectionDetails) -> LazyBuffers {
    LazyBuffers::new(
        details.config.input_buffer_size(),
        details.config.output_buffer_size(),
    )
}

/// A ureq error carrying `what`.
fn failed(what: &str) -> ureq::Error {
    ureq::Error::Io(io::Error::other(what.to_owned()))
}

#[cfg(all(test, not(any(windows, target_vendor = "apple"))))]
mod tests;
