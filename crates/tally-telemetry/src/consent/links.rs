//! Where the consent file really is: dotfile managers link the file (or
//! its directory) into a repository, so a link the user owns to a file the
//! user owns is followed, in a directory the user owns; a link of someone
//! else's, a chain that never ends, or a link into a directory that does
//! not exist is refused with the reason and the fix. On Windows there is no
//! uid to compare (see the consent file's module).

#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::consent::config_error::ConfigError;
use crate::os::files::FileError;

/// How many symbolic links in a row are followed before giving up.
const MAX_LINKS: usize = 8;

#[cfg(unix)]
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The owner of `meta` when it is neither the current user nor root (Unix);
/// never on Windows (see the module's documentation).
fn foreign_owner(meta: &std::fs::Metadata, root_ok: bool) -> Option<u32> {
    #[cfg(unix)]
    return Some(meta.uid()).filter(|&u| u != euid() && !(root_ok && u == 0));
    #[cfg(not(unix))]
    {
        let _ = (meta, root_ok);
        None
    }
}

fn link_error(path: &Path, why: String, fix: String) -> ConfigError {
    ConfigError::Link {
        path: path.to_owned(),
        why,
        fix,
    }
}

/// The real file behind `path`: `path` itself when it is a plain file (or
/// does not exist yet), else where the user's own symbolic links lead. The
/// directory it is in is resolved too (a linked `~/.config/<app>`), and must
/// belong to the user. A link owned by someone else, a chain of links that
/// never ends, or a link into a directory that does not exist is refused
/// with the reason and the fix.
pub fn locate(path: &Path) -> Result<PathBuf, ConfigError> {
    let mut current = path.to_owned();
    for _ in 0..MAX_LINKS {
        let meta = match std::fs::symlink_metadata(&current) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return real_dir_of(path, &current);
            }
            Err(e) => {
                return Err(FileError::Io {
                    op: "inspecting",
                    path: current,
                    source: e,
                }
                .into());
            }
        };
        if !meta.file_type().is_symlink() {
            return real_dir_of(path, &current);
        }
        if let Some(uid) = foreign_owner(&meta, true) {
            return Err(link_error(
                &current,
                format!(
                    "is a symbolic link owned by another user (uid {uid}), so telemetry does not follow it"
                ),
                "replace it with a file or a link of your own".into(),
            ));
        }
        let target = std::fs::read_link(&current).map_err(|e| FileError::Io {
            op: "reading link",
            path: current.clone(),
            source: e,
        })?;
        current = match current.parent() {
            Some(dir) => dir.join(target),
            None => target,
        };
    }
    Err(link_error(
        path,
        format!("leads through more than {MAX_LINKS} symbolic links"),
        "point the link straight at the file".into(),
    ))
}

/// `file` (reached from `asked` through links) with its directory resolved
/// to a real one the user owns. A directory that does not exist yet is
/// left as it is: it is created, private, when the file is written.
fn real_dir_of(asked: &Path, file: &Path) -> Result<PathBuf, ConfigError> {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return Ok(file.to_owned());
    };
    let real = match std::fs::canonicalize(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if file == asked {
                return Ok(file.to_owned());
            }
            return Err(link_error(
                asked,
                format!(
                    "is a symbolic link to {}, whose directory does not exist",
                    file.display()
                ),
                format!(
                    "create {} (your dotfiles checkout?) or remove the link",
                    dir.display()
                ),
            ));
        }
        Err(e) => {
            return Err(FileError::Io {
                op: "resolving",
                path: dir.to_owned(),
                source: e,
            }
            .into());
        }
    };
    let owner = match std::fs::metadata(&real) {
        Ok(m) => foreign_owner(&m, false),
        Err(_) => Some(u32::MAX),
    };
    if let Some(owner) = owner {
        return Err(link_error(
            asked,
            format!(
                "is in {}, a directory owned by another user (uid {owner})",
                real.display()
            ),
            "keep the file in a directory of your own".into(),
        ));
    }
    Ok(real.join(name))
}
