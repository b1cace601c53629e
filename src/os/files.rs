//! Careful file access for everything tally keeps on disk.
//!
//! State files live in directories other programs (or other users) might
//! tamper with, so every open refuses to follow a symlink (`O_NOFOLLOW`),
//! refuses files owned by another user, creates files 0600 and directories
//! 0700, and replaces whole files only by write-to-temp-then-rename.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A file-system failure, with the path it happened to.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// An I/O error from the operating system.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The path is a symbolic link; tally never follows one.
    #[error("{path} is a symbolic link; tally refuses to follow it (remove it to continue)")]
    Symlink {
        /// The path concerned.
        path: PathBuf,
    },
    /// The path belongs to another user.
    #[error("{path} is owned by another user; tally refuses to use it")]
    ForeignOwner {
        /// The path concerned.
        path: PathBuf,
    },
    /// The path exists but is not what was expected (a directory for a file,
    /// a device, …).
    #[error("{path} is not a {expected}")]
    WrongKind {
        /// The path concerned.
        path: PathBuf,
        /// "regular file" or "directory".
        expected: &'static str,
    },
}

impl FileError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        FileError::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }

    /// Whether the error is "the file does not exist".
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn check_meta(path: &Path, meta: &fs::Metadata, dir: bool) -> Result<(), FileError> {
    if meta.file_type().is_symlink() {
        return Err(FileError::Symlink {
            path: path.to_owned(),
        });
    }
    let kind_ok = if dir { meta.is_dir() } else { meta.is_file() };
    if !kind_ok {
        return Err(FileError::WrongKind {
            path: path.to_owned(),
            expected: if dir { "directory" } else { "regular file" },
        });
    }
    if meta.uid() != euid() {
        return Err(FileError::ForeignOwner {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Creates `dir` (and missing parents) with mode 0700, then checks that it is
/// a real directory owned by the current user.
pub fn ensure_private_dir(dir: &Path) -> Result<(), FileError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) => return check_meta(dir, &meta, true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(FileError::io("inspecting", dir, e)),
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| FileError::io("creating directory", dir, e))?;
    let meta = fs::symlink_metadata(dir).map_err(|e| FileError::io("inspecting", dir, e))?;
    check_meta(dir, &meta, true)
}

fn open_checked(path: &Path, opts: &mut OpenOptions, op: &'static str) -> Result<File, FileError> {
    opts.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    let file = opts.open(path).map_err(|e| {
        // O_NOFOLLOW on a symlink fails with ELOOP.
        if e.raw_os_error() == Some(libc::ELOOP) {
            FileError::Symlink {
                path: path.to_owned(),
            }
        } else {
            FileError::io(op, path, e)
        }
    })?;
    let meta = file
        .metadata()
        .map_err(|e| FileError::io("inspecting", path, e))?;
    check_meta(path, &meta, false)?;
    Ok(file)
}

/// Opens `path` for appending, creating it 0600 if needed.
pub fn open_append(path: &Path) -> Result<File, FileError> {
    open_checked(
        path,
        OpenOptions::new().append(true).create(true).mode(0o600),
        "opening for append",
    )
}

/// Opens `path` for reading and writing, creating it 0600 if needed (used for
/// lock files, whose content never matters).
pub fn open_lock_file(path: &Path) -> Result<File, FileError> {
    open_checked(
        path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600),
        "opening lock file",
    )
}

/// Reads a whole file; `Ok(None)` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, FileError> {
    let mut file = match open_checked(path, OpenOptions::new().read(true), "reading") {
        Ok(f) => f,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)
        .map_err(|e| FileError::io("reading", path, e))?;
    Ok(Some(buf))
}

/// Replaces `path` with `bytes` atomically: a 0600 temporary file in the same
/// directory, written (and synced when `durable`), then renamed over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<(), FileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut file = open_checked(
            &tmp,
            OpenOptions::new().write(true).create_new(true).mode(0o600),
            "creating",
        )?;
        file.write_all(bytes)
            .map_err(|e| FileError::io("writing", &tmp, e))?;
        if durable {
            file.sync_all()
                .map_err(|e| FileError::io("syncing", &tmp, e))?;
        }
        if let Ok(meta) = fs::symlink_metadata(path)
            && meta.file_type().is_symlink()
        {
            return Err(FileError::Symlink {
                path: path.to_owned(),
            });
        }
        fs::rename(&tmp, path).map_err(|e| FileError::io("replacing", path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes a file if it exists. Never follows a symlink: a link is removed
/// itself, which is what "delete everything buffered" should do.
pub fn remove_if_exists(path: &Path) -> Result<bool, FileError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(FileError::io("removing", path, e)),
    }
}

/// Size of a regular file, `0` if it does not exist or cannot be inspected.
pub fn size_of(path: &Path) -> u64 {
    fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_private_dirs_and_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let f = dir.join("x");
        write_atomic(&f, b"hello", true).unwrap();
        assert_eq!(
            fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(read_optional(&f).unwrap().unwrap(), b"hello");
        assert!(read_optional(&dir.join("missing")).unwrap().is_none());
    }

    #[test]
    fn refuses_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("target");
        fs::write(&target, b"secret").unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(open_append(&link), Err(FileError::Symlink { .. })));
        assert!(matches!(
            read_optional(&link),
            Err(FileError::Symlink { .. })
        ));
        assert!(matches!(
            write_atomic(&link, b"x", false),
            Err(FileError::Symlink { .. })
        ));
        assert!(matches!(
            ensure_private_dir(&link),
            Err(FileError::Symlink { .. })
        ));
        assert_eq!(fs::read(&target).unwrap(), b"secret");
    }
}
