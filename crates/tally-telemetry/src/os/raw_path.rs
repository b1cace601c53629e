//! Paths as their raw operating-system units (bytes on Unix, UTF-16 units
//! on Windows) for serde, for the one place a path crosses into another
//! process as JSON: the delivery helper's spec. A home directory whose name
//! is not UTF-8 once made that spec unserializable, so no background
//! delivery ever started and only a manual `flush` sent anything.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[cfg(windows)]
type Unit = u16;
#[cfg(not(windows))]
type Unit = u8;

fn units(p: &Path) -> Vec<Unit> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        p.as_os_str().as_bytes().to_vec()
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStrExt;
        p.as_os_str().encode_wide().collect()
    }
    #[cfg(not(any(unix, windows)))]
    {
        p.to_string_lossy().into_owned().into_bytes()
    }
}

fn path(u: Vec<Unit>) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        PathBuf::from(std::ffi::OsString::from_vec(u))
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStringExt;
        PathBuf::from(std::ffi::OsString::from_wide(&u))
    }
    #[cfg(not(any(unix, windows)))]
    {
        PathBuf::from(String::from_utf8_lossy(&u).into_owned())
    }
}

/// `#[serde(with = "raw_path")]` for a `PathBuf`.
pub fn serialize<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    units(p).serialize(s)
}

/// `#[serde(with = "raw_path")]` for a `PathBuf`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    Vec::<Unit>::deserialize(d).map(path)
}

/// `#[serde(with = "raw_path::opt")]` for an `Option<PathBuf>`.
pub mod opt {
    use super::*;

    /// Serializes `None` as null, a path as its units.
    pub fn serialize<S: Serializer>(p: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        p.as_deref().map(units).serialize(s)
    }

    /// The inverse of [`serialize`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        Option::<Vec<Unit>>::deserialize(d).map(|u| u.map(path))
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct S {
        #[serde(with = "super")]
        p: std::path::PathBuf,
        #[serde(with = "super::opt")]
        o: Option<std::path::PathBuf>,
    }

    #[cfg(unix)]
    #[test]
    fn a_path_that_is_not_utf8_survives_json() {
        use std::os::unix::ffi::OsStrExt;
        let p = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b"/home/caf\xe9"));
        let s = S {
            p: p.clone(),
            o: Some(p),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<S>(&json).unwrap(), s);
        let none = S {
            p: "/x".into(),
            o: None,
        };
        let json = serde_json::to_string(&none).unwrap();
        assert_eq!(serde_json::from_str::<S>(&json).unwrap(), none);
    }
}
