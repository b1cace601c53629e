//! Random version-4 UUIDs (machine and batch ids, temporary file names)
//! from the kernel's `getrandom`, so a host does not link a second
//! random-number crate for sixteen bytes. Should the call be unavailable
//! (an old kernel or a seccomp filter), `/dev/urandom` is read instead; only
//! if both fail is the id derived from the time, the process and a counter,
//! which is unique but guessable — never a panic in the host.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};

use super::uuid::Uuid;

/// A fresh random (version 4) UUID.
pub fn uuid() -> Uuid {
    Uuid::v4_from_random(random_bytes())
}

fn random_bytes() -> [u8; 16] {
    let mut buf = [0u8; 16];
    if fill_getrandom(&mut buf) || fill_urandom(&mut buf) {
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

fn fill_getrandom(buf: &mut [u8]) -> bool {
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

fn fill_urandom(buf: &mut [u8]) -> bool {
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .is_ok()
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
        let mut urandom = [0u8; 16];
        assert!(fill_urandom(&mut urandom));
        assert_ne!(urandom, [0u8; 16]);
    }
}
