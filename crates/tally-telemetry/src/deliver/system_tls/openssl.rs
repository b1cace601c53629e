//! TLS through the system's OpenSSL, loaded by the send that needs it
//! (`os::libssl`): `system-tls` on Linux and the other Unix systems but
//! macOS. OpenSSL does the handshake, checks the certificate against the
//! system's trusted roots (OpenSSL's default paths, so `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` work as for every other program) and checks the name;
//! tally only carries bytes between OpenSSL's memory buffers and ureq's
//! connection, so proxies, timeouts and the connection limits stay ureq's.
//! TLS 1.2 is the oldest version offered.

use std::ffi::{CString, c_int, c_void};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::IpAddr;

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

use super::{Roots, adapter, buffers, failed, to_wrap};
use crate::os::libssl::{self, Lib};

/// The connector that wraps a connection to an `https://` endpoint in TLS.
#[derive(Debug)]
pub(super) struct SystemTls {
    pub(super) roots: Roots,
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
        let lib = libssl::lib().map_err(failed)?;
        let io = adapter(details, transport);
        let mut conn = Conn {
            session: Session::new(lib, &self.roots, host)?,
            io,
            eof: false,
        };
        // SAFETY: a live SSL object, set up as a client.
        conn.drive(|lib, ssl| unsafe { (lib.SSL_connect)(ssl) })
            .map_err(|e| match conn.session.refused() {
                Some(why) => failed(&format!(
                    "the certificate of {host} was refused: {why} (checked against the system's trusted roots)"
                )),
                None => failed(&format!("TLS handshake with {host} failed: {e}")),
            })?;
        let buffers = buffers(details);
        Ok(Some(Either::B(TlsTransport { buffers, conn })))
    }
}

/// One OpenSSL connection: its context, its SSL object and the two memory
/// buffers it reads from and writes to.
struct Session {
    lib: &'static Lib,
    ctx: *mut c_void,
    ssl: *mut c_void,
    rbio: *mut c_void,
    wbio: *mut c_void,
}

// SAFETY: OpenSSL's objects of one connection may move between threads;
// the session is only ever used through `&mut`, one call at a time.
unsafe impl Send for Session {}
// SAFETY: as above: no `&self` method touches OpenSSL but `refused`, which
// is only called while the caller holds the session exclusively.
unsafe impl Sync for Session {}

impl Session {
    /// A client session for `host` that verifies the peer's chain against
    /// `roots` and its name (or address) against `host`.
    fn new(lib: &'static Lib, roots: &Roots, host: &str) -> Result<Session, ureq::Error> {
        let name = CString::new(host).map_err(|_| failed("the endpoint's host holds a NUL"))?;
        // SAFETY: each call gets the objects the previous ones returned,
        // checked for null; ownership ends in `Drop`.
        unsafe {
            (lib.ERR_clear_error)();
            let ctx = (lib.SSL_CTX_new)((lib.TLS_client_method)());
            if ctx.is_null() {
                return Err(failed(&lib.errors("OpenSSL could not make a TLS context")));
            }
            let mut s = Session {
                lib,
                ctx,
                ssl: std::ptr::null_mut(),
                rbio: std::ptr::null_mut(),
                wbio: std::ptr::null_mut(),
            };
            (lib.SSL_CTX_ctrl)(
                ctx,
                libssl::CTRL_MIN_PROTO,
                libssl::TLS1_2,
                std::ptr::null_mut(),
            );
            let loaded = match roots {
                Roots::System => (lib.SSL_CTX_set_default_verify_paths)(ctx),
                Roots::File(path) => {
                    let path = CString::new(path.as_os_str().as_encoded_bytes())
                        .map_err(|_| failed("a roots path holds a NUL"))?;
                    (lib.SSL_CTX_load_verify_locations)(ctx, path.as_ptr(), std::ptr::null())
                }
            };
            if loaded != 1 {
                return Err(failed(
                    &lib.errors("OpenSSL could not load the trusted roots"),
                ));
            }
            (lib.SSL_CTX_set_verify)(ctx, libssl::VERIFY_PEER, std::ptr::null());
            s.ssl = (lib.SSL_new)(ctx);
            if s.ssl.is_null() {
                return Err(failed(&lib.errors("OpenSSL could not make a TLS session")));
            }
            let rbio = (lib.BIO_new)((lib.BIO_s_mem)());
            let wbio = (lib.BIO_new)((lib.BIO_s_mem)());
            if rbio.is_null() || wbio.is_null() {
                for b in [rbio, wbio] {
                    if !b.is_null() {
                        (lib.BIO_free)(b);
                    }
                }
                return Err(failed("OpenSSL could not make its buffers"));
            }
            // The session owns both buffers from here on.
            (lib.SSL_set_bio)(s.ssl, rbio, wbio);
            s.rbio = rbio;
            s.wbio = wbio;
            let named = if host.parse::<IpAddr>().is_ok() {
                // An address is checked against the certificate's IP
                // entries, and RFC 6066 sends no SNI for it.
                (lib.X509_VERIFY_PARAM_set1_ip_asc)((lib.SSL_get0_param)(s.ssl), name.as_ptr())
            } else {
                let sni = (lib.SSL_ctrl)(
                    s.ssl,
                    libssl::CTRL_SET_HOSTNAME,
                    0,
                    name.as_ptr().cast_mut().cast(),
                );
                c_int::from(sni == 1 && (lib.SSL_set1_host)(s.ssl, name.as_ptr()) == 1)
            };
            if named != 1 {
                return Err(failed(
                    &lib.errors("OpenSSL could not take the endpoint's name"),
                ));
            }
            Ok(s)
        }
    }

    /// Why the peer's certificate was refused, if it was.
    fn refused(&self) -> Option<String> {
        self.lib.verify_error(self.ssl)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: freeing the SSL object frees both buffers it owns; each
        // pointer is freed once.
        unsafe {
            if !self.ssl.is_null() {
                (self.lib.SSL_free)(self.ssl);
            }
            (self.lib.SSL_CTX_free)(self.ctx);
        }
    }
}

/// A session and the connection under it.
struct Conn {
    session: Session,
    io: TransportAdapter,
    /// The connection under the session has ended.
    eof: bool,
}

impl Conn {
    /// Sends what OpenSSL has written to its outgoing buffer.
    fn pump_out(&mut self) -> io::Result<()> {
        let (lib, wbio) = (self.session.lib, self.session.wbio);
        let mut buf = [0u8; 16 * 1024];
        loop {
            // SAFETY: a live memory BIO; BIO_read writes at most buf.len(),
            // and returns -1 once it is empty.
            let n = unsafe { (lib.BIO_read)(wbio, buf.as_mut_ptr().cast(), buf.len() as c_int) };
            let Ok(n @ 1..) = usize::try_from(n) else {
                return Ok(());
            };
            self.io.write_all(&buf[..n])?;
        }
    }

    /// Hands OpenSSL the next bytes from the connection, or tells it the
    /// connection ended.
    fn pump_in(&mut self) -> io::Result<()> {
        let (lib, rbio) = (self.session.lib, self.session.rbio);
        let mut buf = [0u8; 16 * 1024];
        let n = self.io.read(&mut buf)?;
        // SAFETY: a live memory BIO, which copies the `n` bytes given.
        unsafe {
            if n == 0 {
                self.eof = true;
                (lib.BIO_ctrl)(rbio, libssl::BIO_SET_EOF, 0, std::ptr::null_mut());
            } else {
                (lib.BIO_write)(rbio, buf.as_ptr().cast(), n as c_int);
            }
        }
        Ok(())
    }

    /// Runs one of OpenSSL's calls on the session until it completes,
    /// moving bytes both ways as it asks. Its result (0 for a clean end
    /// of the peer's data), or OpenSSL's error in words.
    fn drive(&mut self, mut op: impl FnMut(&Lib, *mut c_void) -> c_int) -> Result<usize, String> {
        let (lib, ssl) = (self.session.lib, self.session.ssl);
        loop {
            // SAFETY: this thread's error queue and a live SSL object.
            let (r, err) = unsafe {
                (lib.ERR_clear_error)();
                let r = op(lib, ssl);
                (
                    r,
                    if r > 0 {
                        0
                    } else {
                        (lib.SSL_get_error)(ssl, r)
                    },
                )
            };
            self.pump_out().map_err(|e| e.to_string())?;
            match err {
                0 => return Ok(r as usize),
                libssl::ZERO_RETURN => return Ok(0),
                libssl::WANT_READ if !self.eof => self.pump_in().map_err(|e| e.to_string())?,
                libssl::WANT_WRITE => {}
                _ if self.eof => return Err("the connection closed during TLS".into()),
                _ => return Err(lib.errors("OpenSSL failed without saying why")),
            }
        }
    }
}

/// A connection wrapped in TLS by the system's OpenSSL.
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    conn: Conn,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsTransport(system OpenSSL)")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.conn.io.set_timeout(timeout);
        let out = &self.buffers.output()[..amount];
        let mut sent = 0;
        while sent < amount {
            let rest = &out[sent..];
            let len = rest.len().min(c_int::MAX as usize) as c_int;
            // SAFETY: SSL_write reads `len` bytes of `rest`.
            let n = self
                .conn
                .drive(|lib, ssl| unsafe { (lib.SSL_write)(ssl, rest.as_ptr().cast(), len) })
                .map_err(|e| failed(&format!("TLS: {e}")))?;
            if n == 0 {
                return Err(failed(
                    "TLS: the peer closed the session while tally was sending",
                ));
            }
            sent += n;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.conn.io.set_timeout(timeout);
        let buf = self.buffers.input_append_buf();
        let len = buf.len().min(c_int::MAX as usize) as c_int;
        // SAFETY: SSL_read writes at most `len` bytes into `buf`.
        let read = self
            .conn
            .drive(|lib, ssl| unsafe { (lib.SSL_read)(ssl, buf.as_mut_ptr().cast(), len) });
        let n = match read {
            Ok(n) => n,
            // A peer that closes without TLS's goodbye after its answer:
            // the end of the data. ureq checks the answer's length, so a
            // cut-off body is still an error.
            Err(_) if self.conn.eof => 0,
            Err(e) => return Err(failed(&format!("TLS: {e}"))),
        };
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        !self.conn.eof && self.conn.io.get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}
