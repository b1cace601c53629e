//! Advisory whole-file locks: `flock` on Unix, `LockFileEx` on Windows, the
//! same calls std's `File::lock` makes. std's own methods need Rust 1.89;
//! the library keeps its MSRV at the lowest its prescribed dependencies
//! allow, so it makes the calls itself. The lock belongs to the open file
//! description, which is what lets the delivery helper inherit a lock its
//! starter took.

use std::fs::File;
use std::io;

/// Why a non-blocking lock was not taken.
#[derive(Debug)]
pub enum TryLockError {
    /// Another holder has it.
    WouldBlock,
    /// The call failed for another reason.
    Failed,
}

/// Takes the exclusive lock, waiting for it.
pub fn lock(file: &File) -> io::Result<()> {
    sys::lock(file, true)
}

/// Takes the exclusive lock if it is free.
pub fn try_lock(file: &File) -> Result<(), TryLockError> {
    match sys::lock(file, false) {
        Ok(()) => Ok(()),
        Err(e) if sys::is_contended(&e) => Err(TryLockError::WouldBlock),
        Err(_) => Err(TryLockError::Failed),
    }
}

/// Releases the lock (closing the file releases it too).
pub fn unlock(file: &File) -> io::Result<()> {
    sys::unlock(file)
}

#[cfg(unix)]
mod sys {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
        loop {
            // SAFETY: flock on a descriptor `file` owns for the call.
            if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    pub fn lock(file: &File, wait: bool) -> io::Result<()> {
        flock(
            file,
            if wait {
                libc::LOCK_EX
            } else {
                libc::LOCK_EX | libc::LOCK_NB
            },
        )
    }

    pub fn unlock(file: &File) -> io::Result<()> {
        flock(file, libc::LOCK_UN)
    }

    pub fn is_contended(e: &io::Error) -> bool {
        e.raw_os_error() == Some(libc::EWOULDBLOCK)
    }
}

#[cfg(windows)]
mod sys {
    use std::fs::File;
    use std::io;
    use std::os::windows::io::AsRawHandle;

    use windows_sys::Win32::Foundation::ERROR_LOCK_VIOLATION;
    use windows_sys::Win32::Storage::FileSystem::{
        LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY, LockFileEx, UnlockFile,
    };
    use windows_sys::Win32::System::IO::OVERLAPPED;

    pub fn lock(file: &File, wait: bool) -> io::Result<()> {
        let flags = if wait {
            LOCKFILE_EXCLUSIVE_LOCK
        } else {
            LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY
        };
        // SAFETY: a zeroed OVERLAPPED is the documented "offset 0"; the
        // handle is `file`'s, open for the call.
        let ok = unsafe {
            let mut overlapped: OVERLAPPED = std::mem::zeroed();
            LockFileEx(
                file.as_raw_handle() as _,
                flags,
                0,
                u32::MAX,
                u32::MAX,
                &mut overlapped,
            )
        };
        if ok == 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    pub fn unlock(file: &File) -> io::Result<()> {
        // SAFETY: the handle is `file`'s, open for the call.
        let ok = unsafe { UnlockFile(file.as_raw_handle() as _, 0, 0, u32::MAX, u32::MAX) };
        if ok == 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    pub fn is_contended(e: &io::Error) -> bool {
        e.raw_os_error() == Some(ERROR_LOCK_VIOLATION as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_file_cannot_take_a_held_lock_until_it_is_released() {
        let dir = std::env::temp_dir().join(format!("tally-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.lock");
        let a = File::create(&path).unwrap();
        let b = File::options().write(true).open(&path).unwrap();
        lock(&a).unwrap();
        assert!(matches!(try_lock(&b), Err(TryLockError::WouldBlock)));
        unlock(&a).unwrap();
        try_lock(&b).unwrap();
        drop(b);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
