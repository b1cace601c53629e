//! The system's OpenSSL, found at run time: `libssl` is opened with
//! `dlopen` by the first send to an `https://` endpoint, never at start,
//! so a host built with the `system-tls` feature carries no TLS code and
//! its dynamic loader does no TLS work on the runs that do not send (all
//! but about one a day). Only the calls that OpenSSL 1.1.1 and 3.x both
//! export with the same signature are used; the library stays loaded for
//! the rest of the process, which keeps every function pointer valid.

use std::ffi::{CStr, c_char, c_int, c_long, c_ulong, c_void};
use std::sync::OnceLock;

/// The names tried in order: OpenSSL 3 (Debian 12, Ubuntu 22.04, Fedora,
/// RHEL 9, Alpine), 1.1 (older distributions), FreeBSD's base system's
/// (14: 30, 13: 111), then the development link some systems keep as the
/// only name.
const NAMES: [&CStr; 5] = [
    c"libssl.so.3",
    c"libssl.so.1.1",
    c"libssl.so.30",
    c"libssl.so.111",
    c"libssl.so",
];

/// `SSL_VERIFY_PEER`: the handshake fails unless the chain verifies.
pub(crate) const VERIFY_PEER: c_int = 1;
/// `SSL_CTRL_SET_TLSEXT_HOSTNAME` with `TLSEXT_NAMETYPE_host_name`: SNI.
pub(crate) const CTRL_SET_HOSTNAME: c_int = 55;
/// `SSL_CTRL_SET_MIN_PROTO_VERSION`.
pub(crate) const CTRL_MIN_PROTO: c_int = 123;
/// `TLS1_2_VERSION`: nothing older is offered.
pub(crate) const TLS1_2: c_long = 0x0303;
/// `BIO_C_SET_BUF_MEM_EOF_RETURN`: what reading an empty memory BIO
/// returns; 0 tells OpenSSL the peer closed the connection.
pub(crate) const BIO_SET_EOF: c_int = 130;
/// `SSL_ERROR_WANT_READ`.
pub(crate) const WANT_READ: c_int = 2;
/// `SSL_ERROR_WANT_WRITE`.
pub(crate) const WANT_WRITE: c_int = 3;
/// `SSL_ERROR_ZERO_RETURN`: the peer closed the TLS session cleanly.
pub(crate) const ZERO_RETURN: c_int = 6;

/// Declares the table of OpenSSL's functions and the loader that fills it
/// from one `dlopen` handle, failing if any one is missing.
macro_rules! functions {
    ($($name:ident: fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// OpenSSL's functions, looked up once.
        #[allow(non_snake_case)]
        pub(crate) struct Lib {
            $(pub(crate) $name: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
        }

        impl Lib {
            /// Looks every function up in `handle`; the name of the first
            /// one missing otherwise.
            fn bind(handle: *mut c_void) -> Result<Lib, &'static str> {
                Ok(Lib {
                    $($name: {
                        let name = concat!(stringify!($name), "\0");
                        // SAFETY: `handle` came from a successful dlopen and
                        // `name` is NUL-terminated.
                        let p = unsafe { libc::dlsym(handle, name.as_ptr().cast()) };
                        if p.is_null() {
                            return Err(stringify!($name));
                        }
                        // SAFETY: the symbol is OpenSSL's function of that
                        // name, whose C signature (the same in 1.1.1 and 3.x)
                        // is the one declared here.
                        unsafe {
                            std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($arg),*) $(-> $ret)?>(p)
                        }
                    },)*
                })
            }
        }
    };
}

functions! {
    TLS_client_method: fn() -> *const c_void;
    SSL_CTX_new: fn(*const c_void) -> *mut c_void;
    SSL_CTX_free: fn(*mut c_void);
    SSL_CTX_set_default_verify_paths: fn(*mut c_void) -> c_int;
    SSL_CTX_load_verify_locations: fn(*mut c_void, *const c_char, *const c_char) -> c_int;
    SSL_CTX_set_verify: fn(*mut c_void, c_int, *const c_void);
    SSL_CTX_ctrl: fn(*mut c_void, c_int, c_long, *mut c_void) -> c_long;
    SSL_new: fn(*mut c_void) -> *mut c_void;
    SSL_free: fn(*mut c_void);
    SSL_ctrl: fn(*mut c_void, c_int, c_long, *mut c_void) -> c_long;
    SSL_set1_host: fn(*mut c_void, *const c_char) -> c_int;
    SSL_get0_param: fn(*mut c_void) -> *mut c_void;
    X509_VERIFY_PARAM_set1_ip_asc: fn(*mut c_void, *const c_char) -> c_int;
    SSL_set_bio: fn(*mut c_void, *mut c_void, *mut c_void);
    BIO_s_mem: fn() -> *const c_void;
    BIO_new: fn(*const c_void) -> *mut c_void;
    BIO_free: fn(*mut c_void) -> c_int;
    BIO_read: fn(*mut c_void, *mut c_void, c_int) -> c_int;
    BIO_write: fn(*mut c_void, *const c_void, c_int) -> c_int;
    BIO_ctrl: fn(*mut c_void, c_int, c_long, *mut c_void) -> c_long;
    SSL_connect: fn(*mut c_void) -> c_int;
    SSL_read: fn(*mut c_void, *mut c_void, c_int) -> c_int;
    SSL_write: fn(*mut c_void, *const c_void, c_int) -> c_int;
    SSL_get_error: fn(*const c_void, c_int) -> c_int;
    SSL_get_verify_result: fn(*const c_void) -> c_long;
    X509_verify_cert_error_string: fn(c_long) -> *const c_char;
    ERR_get_error: fn() -> c_ulong;
    ERR_clear_error: fn();
    ERR_error_string_n: fn(c_ulong, *mut c_char, usize);
}

/// The loaded library, or why there is none (kept: a machine without
/// OpenSSL is not asked again within one process).
static LOADED: OnceLock<Result<Lib, String>> = OnceLock::new();

/// OpenSSL's functions, loading the library on the first call.
///
/// The error says what was tried, for `telemetry status`: a machine
/// without OpenSSL (a minimal container) sends nothing over https and
/// says why.
pub(crate) fn lib() -> Result<&'static Lib, &'static str> {
    LOADED.get_or_init(load).as_ref().map_err(String::as_str)
}

fn load() -> Result<Lib, String> {
    let mut last = String::new();
    for name in NAMES {
        // SAFETY: a NUL-terminated name; RTLD_LOCAL keeps OpenSSL's symbols
        // out of the global namespace, so nothing of the host's resolves
        // to them.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            continue;
        }
        match Lib::bind(handle) {
            Ok(lib) => return Ok(lib),
            // The handle stays open: closing it would import one more
            // symbol, which the loader binds in every run of the host, for
            // a library that is too old.
            Err(missing) => {
                last = format!(
                    "; {} lacks {missing} (OpenSSL 1.1.1 or later is needed)",
                    name.to_string_lossy()
                );
            }
        }
    }
    Err(format!(
        "https needs the system's OpenSSL (libssl.so.3 or libssl.so.1.1) and none could be loaded{last}; install OpenSSL (Debian and Ubuntu: libssl3) or build the host with the `rustls` feature"
    ))
}

impl Lib {
    /// OpenSSL's error queue of this thread in words, emptied; `fallback`
    /// when it holds nothing.
    pub(crate) fn errors(&self, fallback: &str) -> String {
        let mut words = String::new();
        loop {
            // SAFETY: reads and pops this thread's error queue.
            let code = unsafe { (self.ERR_get_error)() };
            if code == 0 {
                break;
            }
            let mut buf = [0 as c_char; 256];
            // SAFETY: OpenSSL writes at most `buf.len()` bytes, NUL included.
            unsafe { (self.ERR_error_string_n)(code, buf.as_mut_ptr(), buf.len()) };
            // SAFETY: NUL-terminated by ERR_error_string_n.
            let text = unsafe { CStr::from_ptr(buf.as_ptr()) };
            if !words.is_empty() {
                words.push_str("; ");
            }
            words.push_str(&text.to_string_lossy());
        }
        if words.is_empty() {
            fallback.to_owned()
        } else {
            words
        }
    }

    /// Why the peer's certificate was refused, in OpenSSL's words.
    pub(crate) fn verify_error(&self, ssl: *const c_void) -> Option<String> {
        // SAFETY: `ssl` is a live SSL object.
        let code = unsafe { (self.SSL_get_verify_result)(ssl) };
        if code == 0 {
            return None;
        }
        // SAFETY: returns a static NUL-terminated string for any code.
        let text = unsafe { (self.X509_verify_cert_error_string)(code) };
        if text.is_null() {
            return Some(format!("certificate verify error {code}"));
        }
        // SAFETY: a static string, checked non-null above.
        Some(
            unsafe { CStr::from_ptr(text) }
                .to_string_lossy()
                .into_owned(),
        )
    }
}
