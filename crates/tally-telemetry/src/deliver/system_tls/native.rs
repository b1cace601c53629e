//! `system-tls` on macOS and Windows: the platform's TLS through
//! native-tls (Security.framework, SChannel), both part of the operating
//! system, so the host carries only the glue. TLS 1.2 is the oldest
//! version offered; the platform checks the chain against its own store
//! (the Keychain, the Windows certificate store) and the name.

use std::fmt;
use std::io::{Read, Write};

use native_tls::{Certificate, HandshakeError, Protocol, TlsConnector, TlsStream};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

use super::{Roots, adapter, buffers, failed, to_wrap};

/// The connector that wraps a connection to an `https://` endpoint in TLS.
#[derive(Debug)]
pub(super) struct SystemTls {
    pub(super) roots: Roots,
}

impl SystemTls {
    /// The platform's connector trusting `self.roots`.
    fn connector(&self) -> Result<TlsConnector, ureq::Error> {
        let mut b = TlsConnector::builder();
        b.min_protocol_version(Some(Protocol::Tlsv12));
        if let Roots::File(path) = &self.roots {
            let pem = std::fs::read(path)
                .map_err(|e| failed(&format!("reading {}: {e}", path.display())))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| failed(&format!("{}: {e}", path.display())))?;
            b.disable_built_in_roots(true);
            b.add_root_certificate(cert);
        }
        b.build()
            .map_err(|e| failed(&format!("the platform's TLS could not start: {e}")))
    }
}

impl<In: Transport> Connector<In> for SystemTls {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        let Some(host) = to_wrap(details, &transport) else {
            return Ok(Some(Either::A(transport)));
        };
        let io = adapter(details, transport);
        let stream = match self.connector()?.connect(host, io) {
            Ok(stream) => stream,
            Err(HandshakeError::Failure(e)) => {
                let e = e.to_string();
                return Err(failed(&format!(
                    "TLS handshake with {host} failed: {}",
                    in_words(&e).unwrap_or(&e)
                )));
            }
            // Blocking I/O underneath: a handshake never stops half way.
            Err(HandshakeError::WouldBlock(_)) => {
                return Err(failed(&format!("TLS handshake with {host} stalled")));
            }
        };
        let buffers = buffers(details);
        Ok(Some(Either::B(TlsTransport { buffers, stream })))
    }
}

/// SChannel's refusals of a certificate in words. Windows reports them as
/// a bare HRESULT where its message table lacks the text (Wine's has none:
/// "OS Error -2146762487"), which tells a user nothing.
fn in_words(error: &str) -> Option<&'static str> {
    let code = error
        .split("os error ")
        .nth(1)?
        .trim_end_matches(')')
        .parse::<i32>()
        .ok()? as u32;
    Some(match code {
        0x800B_0109 | 0x8009_0325 => {
            "the certificate's root is not one this machine trusts (CERT_E_UNTRUSTEDROOT); add it to the Windows certificate store"
        }
        0x800B_010F | 0x8009_0322 => "the certificate is for another name (CERT_E_CN_NO_MATCH)",
        0x800B_0101 | 0x8009_0328 => "the certificate has expired (CERT_E_EXPIRED)",
        0x800B_010C => "the certificate was revoked (CERT_E_REVOKED)",
        _ => return None,
    })
}

/// A connection wrapped in the platform's TLS.
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: TlsStream<TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsTransport(platform TLS)")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        self.stream
            .write_all(&self.buffers.output()[..amount])
            .map_err(|e| failed(&format!("TLS: {e}")))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let n = self
            .stream
            .read(self.buffers.input_append_buf())
            .map_err(|e| failed(&format!("TLS: {e}")))?;
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(all(test, unix))]
#[path = "native_tests.rs"]
mod tests;
