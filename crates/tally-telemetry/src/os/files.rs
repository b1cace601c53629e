//! Careful file access for everything tally keeps on disk.
//!
//! State files live in directories other programs (or other users) might
//! tamper with, so every open refuses to follow a symlink (`O_NOFOLLOW`),
//! never blocks (`O_NONBLOCK`, so a FIFO planted where a file should be
//! cannot hang the host), refuses anything but a regular file owned by the
//! current user (checked on the open descriptor, not the path), creates
//! files 0600 and directories 0700, repairs a directory of ours that is
//! group- or world-writable, reads at most a stated number of bytes, and
//! replaces whole files only by write-to-temp-then-rename.
//!
//! What is checked differs by platform, because the platforms differ:
//!
//! | | Linux, macOS | Windows |
//! |---|---|---|
//! | links | `O_NOFOLLOW`: a symlink is refused | `FILE_FLAG_OPEN_REPARSE_POINT`: a symlink, junction or any other reparse point is opened as itself and refused |
//! | kind | regular file (directory), checked on the open descriptor | the same, on the open handle |
//! | FIFOs, devices | opened `O_NONBLOCK`, then refused | named pipes and devices do not live in directories; refused by kind |
//! | owner | the file's uid must be the effective uid | not compared: the state lives in the user's profile (`%LOCALAPPDATA%`), whose inherited ACL admits only the user, SYSTEM and Administrators, who could replace any file of the user's anyway |
//! | modes | files 0600, directories 0700, loose directories repaired | inherited from the profile's ACL |
//! | replace | `rename(2)`, atomic | `fs::rename`, which replaces an existing file: `MoveFileExW(MOVEFILE_REPLACE_EXISTING)`, retried on "access denied" as `FileRenameInfoEx` with `FILE_RENAME_FLAG_REPLACE_IF_EXISTS` (std 1.95, `sys/fs/windows.rs`) |
//! | locks | `flock` (`os/lock.rs`) | `LockFileEx` (`os/lock.rs`) |

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
#[cfg(windows)]
use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A file-system failure, with the path it happened to.
#[derive(Debug)]
pub enum FileError {
    /// An I/O error from the operating system.
    Io {
        /// What was being done.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The path is a symbolic link (on Windows also a junction or another
    /// reparse point); tally never follows one.
    Symlink {
        /// The path concerned.
        path: PathBuf,
    },
    /// The path belongs to another user.
    ForeignOwner {
        /// The path concerned.
        path: PathBuf,
    },
    /// The path exists but is not what was expected (a directory for a file,
    /// a FIFO, a device, …).
    WrongKind {
        /// The path concerned.
        path: PathBuf,
        /// "regular file" or "directory".
        expected: &'static str,
    },
}

// The error types a host links implement `Display` and `Error` by hand
// rather than through `thiserror`: two crates fewer in every host's build
// (the embedding budget counts them) for a few lines each. The server and
// the binary, which hosts do not build, keep `thiserror`.
impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Io { op, path, source } => write!(f, "{op} {}: {source}", path.display()),
            FileError::Symlink { path } => write!(
                f,
                "{} is a symbolic link; telemetry does not follow it (remove it to continue)",
                path.display()
            ),
            FileError::ForeignOwner { path } => write!(
                f,
                "{} is owned by another user; telemetry does not use it",
                path.display()
            ),
            FileError::WrongKind { path, expected } => write!(
                f,
                "{} is not a {expected}; telemetry does not use it (remove it to continue)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
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

#[cfg(unix)]
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// A link of any kind: on Windows a junction or mount point is not a
/// "symlink" to std, but it redirects all the same.
pub fn is_link(meta: &fs::Metadata) -> bool {
    #[cfg(windows)]
    if meta.file_attributes()
        & windows_sys::Win32::Storage::FileSystem::FILE_ATTRIBUTE_REPARSE_POINT
        != 0
    {
        return true;
    }
    meta.file_type().is_symlink()
}

/// Whether `meta` belongs to the current user (see the module's table for
/// what Windows checks instead).
pub fn ours(meta: &fs::Metadata) -> bool {
    #[cfg(unix)]
    return meta.uid() == euid();
    #[cfg(not(unix))]
    {
        let _ = meta;
        true
    }
}

fn check_meta(path: &Path, meta: &fs::Metadata, dir: bool) -> Result<(), FileError> {
    if is_link(meta) {
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
    if !ours(meta) {
        return Err(FileError::ForeignOwner {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Group- or world-writable: anyone else could plant or swap files in it.
/// (Windows has no mode bits; its ACLs are inherited from the profile.)
pub fn loosely_writable(meta: &fs::Metadata) -> bool {
    #[cfg(unix)]
    return meta.mode() & 0o022 != 0;
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

/// Creates `dir` (and missing parents) with mode 0700, then checks that it is
/// a real directory owned by the current user. A directory of ours that is
/// group- or world-writable is made 0700 (another user could otherwise plant
/// a FIFO or a link in it); one of another user's is refused.
pub fn ensure_private_dir(dir: &Path) -> Result<(), FileError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) => {
            check_meta(dir, &meta, true)?;
            return repair_mode(dir, &meta);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(FileError::io("inspecting", dir, e)),
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder
        .create(dir)
        .map_err(|e| FileError::io("creating directory", dir, e))?;
    let meta = fs::symlink_metadata(dir).map_err(|e| FileError::io("inspecting", dir, e))?;
    check_meta(dir, &meta, true)?;
    repair_mode(dir, &meta)
}

#[cfg(unix)]
fn repair_mode(dir: &Path, meta: &fs::Metadata) -> Result<(), FileError> {
    if !loosely_writable(meta) {
        return Ok(());
    }
    use std::os::unix::fs::PermissionsExt;
    // Ours (check_meta verified the owner): take write access away from
    // everyone else rather than refuse to work.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| FileError::io("making private (chmod 700)", dir, e))
}

/// No mode bits to repair: the directory's ACL is inherited from the
/// profile (see the module's table).
#[cfg(not(unix))]
fn repair_mode(_dir: &Path, _meta: &fs::Metadata) -> Result<(), FileError> {
    Ok(())
}

/// Open flags that never follow a link and never block: on Unix
/// `O_NOFOLLOW` (and `O_NONBLOCK`: opening a FIFO would otherwise wait for
/// a peer forever; it has no effect on regular files, the only kind
/// accepted); on Windows the reparse point itself is opened, so the check
/// on the handle sees it.
fn no_follow(opts: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    opts.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK);
    #[cfg(windows)]
    opts.custom_flags(windows_sys::Win32::Storage::FileSystem::FILE_FLAG_OPEN_REPARSE_POINT);
    opts
}

/// Why an open failed. Windows refuses to open a directory as a file with
/// "access denied", which would hide what is wrong: the path is looked at
/// (without following it) to name a directory or a link as such.
fn open_error(path: &Path, op: &'static str, e: io::Error) -> FileError {
    #[cfg(windows)]
    if let Ok(meta) = fs::symlink_metadata(path) {
        if is_link(&meta) {
            return FileError::Symlink {
                path: path.to_owned(),
            };
        }
        if !meta.is_file() {
            return FileError::WrongKind {
                path: path.to_owned(),
                expected: "regular file",
            };
        }
    }
    FileError::io(op, path, e)
}

fn open_checked(path: &Path, opts: &mut OpenOptions, op: &'static str) -> Result<File, FileError> {
    no_follow(opts);
    let file = opts.open(path).map_err(|e| match e.raw_os_error() {
        // O_NOFOLLOW on a symlink fails with ELOOP.
        #[cfg(unix)]
        Some(libc::ELOOP) => FileError::Symlink {
            path: path.to_owned(),
        },
        // A FIFO without a reader, opened for writing without blocking.
        #[cfg(unix)]
        Some(libc::ENXIO) => FileError::WrongKind {
            path: path.to_owned(),
            expected: "regular file",
        },
        _ => open_error(path, op, e),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| FileError::io("inspecting", path, e))?;
    check_meta(path, &meta, false)?;
    Ok(file)
}

/// Files tally creates are 0600 on Unix; on Windows they inherit the
/// profile directory's ACL (see the module's table).
fn private(opts: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    opts.mode(0o600);
    opts
}

/// Opens `path` for appending, creating it 0600 if needed.
pub fn open_append(path: &Path) -> Result<File, FileError> {
    open_checked(
        path,
        private(OpenOptions::new().append(true).create(true)),
        "opening for append",
    )
}

/// Opens `path` for reading and writing, creating it 0600 if needed (used for
/// lock files, whose content never matters).
pub fn open_lock_file(path: &Path) -> Result<File, FileError> {
    open_checked(
        path,
        private(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
        ),
        "opening lock file",
    )
}

/// The most [`read_optional`] reads of a small state or config file.
pub const SMALL_FILE_MAX: u64 = 1024 * 1024;

/// Reads a file of at most [`SMALL_FILE_MAX`] bytes (the rest is ignored);
/// `Ok(None)` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, FileError> {
    Ok(read_bounded(path, SMALL_FILE_MAX)?.map(|(b, _)| b))
}

/// Reads at most `max` bytes of a file; `Ok(None)` when it does not exist.
/// Also returns the file's size, so a caller can tell what was left unread.
pub fn read_bounded(path: &Path, max: u64) -> Result<Option<(Vec<u8>, u64)>, FileError> {
    let file = match open_checked(path, OpenOptions::new().read(true), "reading") {
        Ok(f) => f,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let size = file
        .metadata()
        .map_err(|e| FileError::io("inspecting", path, e))?
        .len();
    let mut buf = Vec::with_capacity(size.min(max) as usize);
    file.take(max)
        .read_to_end(&mut buf)
        .map_err(|e| FileError::io("reading", path, e))?;
    Ok(Some((buf, size)))
}

/// Reads a file an administrator installed (the system policy file), as
/// text: it may be a symlink and owned by root, but it must be a regular
/// file, opening it never blocks (a FIFO), and at most `max` bytes are read.
pub fn read_admin_file(path: &Path, max: u64) -> io::Result<String> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    opts.custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK);
    let file = opts.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    let mut text = String::new();
    file.take(max).read_to_string(&mut text)?;
    Ok(text)
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
        crate::os::random::uuid().simple()
    ));
    let result = (|| {
        let mut file = open_checked(
            &tmp,
            private(OpenOptions::new().write(true).create_new(true)),
            "creating",
        )?;
        file.write_all(bytes)
            .map_err(|e| FileError::io("writing", &tmp, e))?;
        if durable {
            file.sync_all()
                .map_err(|e| FileError::io("syncing", &tmp, e))?;
        }
        // Closed before the rename: Windows renames an open file only if
        // every handle to it allows deletion.
        drop(file);
        if fs::symlink_metadata(path).is_ok_and(|meta| is_link(&meta)) {
            return Err(FileError::Symlink {
                path: path.to_owned(),
            });
        }
        // Over an existing file too, on every platform: on Windows std
        // renames with MoveFileExW(MOVEFILE_REPLACE_EXISTING), retrying as
        // FileRenameInfoEx with FILE_RENAME_FLAG_REPLACE_IF_EXISTS.
        fs::rename(&tmp, path)
            .or_else(|e| rename_again(&tmp, path, e))
            .map_err(|e| FileError::io("replacing", path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Windows refuses to replace a file that another process has open
/// ("access denied"), and every command's start reads the spool's head
/// without the lock (`spool::head_due`) for a few microseconds: where the
/// rename met such a reader (four runs at once under Wine did), it is tried
/// again for at most about 100 ms.
#[cfg(windows)]
fn rename_again(tmp: &Path, path: &Path, first: std::io::Error) -> std::io::Result<()> {
    let mut err = first;
    for _ in 0..20 {
        if err.kind() != std::io::ErrorKind::PermissionDenied {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        match fs::rename(tmp, path) {
            Ok(()) => return Ok(()),
            Err(e) => err = e,
        }
    }
    Err(err)
}

/// Elsewhere a rename replaces a file whoever has it open.
#[cfg(not(windows))]
fn rename_again(_tmp: &Path, _path: &Path, first: std::io::Error) -> std::io::Result<()> {
    Err(first)
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
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn errors_name_the_path_and_what_to_do() {
        let e = FileError::io(
            "reading",
            Path::new("/s/spool.jsonl"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert!(e.to_string().starts_with("reading /s/spool.jsonl: "), "{e}");
        assert!(std::error::Error::source(&e).is_some());
        let e = FileError::Symlink {
            path: "/s/spool.jsonl".into(),
        };
        assert_eq!(
            e.to_string(),
            "/s/spool.jsonl is a symbolic link; telemetry does not follow it (remove it to continue)"
        );
        let e = FileError::WrongKind {
            path: "/s".into(),
            expected: "directory",
        };
        assert_eq!(
            e.to_string(),
            "/s is not a directory; telemetry does not use it (remove it to continue)"
        );
        assert!(std::error::Error::source(&e).is_none());
    }

    #[cfg(unix)]
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

    #[cfg(unix)]
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

    #[cfg(unix)]
    #[test]
    fn a_fifo_in_place_of_a_file_does_not_hang() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("spool.jsonl");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            open_append(&fifo),
            Err(FileError::WrongKind { .. })
        ));
        assert!(matches!(
            read_optional(&fifo),
            Err(FileError::WrongKind { .. })
        ));
        assert!(matches!(
            open_lock_file(&fifo),
            Err(FileError::WrongKind { .. })
        ));
        assert!(read_admin_file(&fifo, 10).is_err(), "a policy FIFO neither");
    }

    #[cfg(unix)]
    #[test]
    fn a_world_writable_dir_of_ours_is_made_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        ensure_private_dir(&dir).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn reads_are_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("big");
        fs::write(&f, vec![b'x'; 10_000]).unwrap();
        let (bytes, size) = read_bounded(&f, 100).unwrap().unwrap();
        assert_eq!((bytes.len(), size), (100, 10_000));
    }
}
