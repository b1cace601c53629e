//! Random version-4 UUIDs (machine and batch ids, temporary file names)
//! from the operating system's own generator, so a host does not link a
//! second random-number crate for sixteen bytes: `getrandom` on Linux,
//! `getentropy` on macOS (both are system calls that cannot be starved of
//! entropy once the system is up), `BCryptGenRandom` with the system
//! preferred generator on Windows. Should that call be unavailable (an old
//! kernel, a seccomp filter, a stripped-down Wine), `/dev/urandom` is read
//! instead (Unix) or `RtlGenRandom` asked (Windows); only if both fail is
//! the id derived from the time, the process and a counter, which is unique
//! but guessable — never a panic in the host.

use std::sync::atomic::{AtomicU64, Ordering};

use super::uuid::Uuid;

/// A fresh random (version 4) UUID.
pub fn uuid() -> Uuid {
    Uuid::v4_from_random(random_bytes())
}

/// Fills `buf` from the operating system's generator (or its fallback),
/// or says it could not: for keys (TLS), where a guessable stand-in must
/// never be used.
#[cfg_attr(not(feature = "rustls"), allow(dead_code))]
pub(crate) fn fill_secure(buf: &mut [u8]) -> bool {
    fill_os(buf) || fill_fallback(buf)
}

fn random_bytes() -> [u8; 16] {
    let mut buf = [0u8; 16];
    if fill_os(&mut buf) || fill_fallback(&mut buf) {
        return buf;
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    buf[..8].copy_from_slice(&nanos.to_le_bytes());
    buf[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    buf[12..].copy_from_slice(&(n as u32).to_le_bytes());
    buf
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn fill_os(buf: &mut [u8]) -> bool {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe the writable rest of `buf`.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n > 0 {
            filled += n as usize;
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        } else {
            return false;
        }
    }
    true
}

/// macOS (10.12+) and the other Apple systems: `getentropy` fills up to 256
/// bytes in one call and only fails for a bigger buffer.
#[cfg(target_vendor = "apple")]
fn fill_os(buf: &mut [u8]) -> bool {
    buf.chunks_mut(256).all(|chunk| {
        // SAFETY: the pointer and length (≤ 256) describe a writable chunk.
        unsafe { libc::getentropy(chunk.as_mut_ptr().cast(), chunk.len()) == 0 }
    })
}

/// Windows: the system's preferred generator (no algorithm handle to open
/// or close), which is what `ProcessPrng` serves on Windows 10 and later.
#[cfg(windows)]
fn fill_os(buf: &mut [u8]) -> bool {
    use windows_sys::Win32::Security::Cryptography::{
        BCRYPT_USE_SYSTEM_PREFERRED_RNG, BCryptGenRandom,
    };
    buf.chunks_mut(u32::MAX as usize).all(|chunk| {
        // SAFETY: a null algorithm handle is allowed with this flag; the
        // pointer and length describe a writable chunk.
        let status = unsafe {
            BCryptGenRandom(
                std::ptr::null_mut(),
                chunk.as_mut_ptr(),
                chunk.len() as u32,
                BCRYPT_USE_SYSTEM_PREFERRED_RNG,
            )
        };
        status >= 0 // NT_SUCCESS
    })
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    windows
)))]
fn fill_os(_buf: &mut [u8]) -> bool {
    false
}

#[cfg(unix)]
fn fill_fallback(buf: &mut [u8]) -> bool {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .is_ok()
}

/// `RtlGenRandom` (advapi32's `SystemFunction036`): older than BCrypt's
/// call, and present in every Windows and Wine.
#[cfg(windows)]
fn fill_fallback(buf: &mut [u8]) -> bool {
    use windows_sys::Win32::Security::Authentication::Identity::RtlGenRandom;
    buf.chunks_mut(u32::MAX as usize).all(|chunk| {
        // SAFETY: the pointer and length describe a writable chunk.
        unsafe { RtlGenRandom(chunk.as_mut_ptr().cast(), chunk.len() as u32) }
    })
}

#[cfg(not(any(unix, windows)))]
fn fill_fallback(_buf: &mut [u8]) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_4_and_differ() {
        let a = uuid();
        let b = uuid();
        assert_ne!(a, b);
        let text = a.to_string();
        assert_eq!(&text[14..15], "4", "version 4: {text}");
        assert!("89ab".contains(&text[19..20]), "RFC 4122 variant: {text}");
        let mut os = [0u8; 16];
        assert!(fill_os(&mut os));
        assert_ne!(os, [0u8; 16]);
        let mut fallback = [0u8; 16];
        assert!(fill_fallback(&mut fallback));
        assert_ne!(fallback, [0u8; 16]);
    }
}
