//! The conformance vectors: JSON cases, in no language, that every
//! implementation of tally's contract (this library, the Node and Python
//! bindings, the Go module) runs, so that a change in one the others do not
//! follow fails somewhere. Each case's inputs are chosen here and its
//! expected answer is computed by this library's own code paths (the
//! settings resolution that loads real files, the sender that posts to a
//! real loopback listener, the server's validator), never restated.
//!
//! `tally generate conformance <dir>` writes them (the repository keeps them
//! under `conformance/`, and CI checks that regenerating changes nothing);
//! [`check`] runs committed cases against the library, which is what the
//! library's own test does. The format of each kind is in
//! `conformance/README.md`. Not for hosts: compiled only with the
//! `conformance` feature, which the `tally` binary enables.

mod buckets;
mod consent;
mod delivery;
mod files;
mod names;
mod schema;
mod spool;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The application every case is for: its variables are `DEMO_*`.
const APP: &str = "demo";

/// One kind of case: the file it lives in, the cases it generates, and how
/// a committed file is checked.
struct Kind {
    file: &'static str,
    generate: fn() -> Result<String, String>,
    check: fn(&str) -> Result<usize, String>,
}

const KINDS: &[Kind] = &[
    Kind {
        file: "consent/precedence.json",
        generate: || render(consent::precedence_cases()),
        check: |t| check_cases(t, consent::run_precedence),
    },
    Kind {
        file: "files/consent_file.json",
        generate: || render(files::consent_file_cases()),
        check: |t| check_cases(t, files::run_consent_file),
    },
    Kind {
        file: "files/policy_file.json",
        generate: || render(files::policy_file_cases()),
        check: |t| check_cases(t, files::run_policy_file),
    },
    Kind {
        file: "spool/batches.json",
        generate: || render(spool::cases()?),
        check: |t| check_cases(t, spool::run),
    },
    Kind {
        file: "spool/proxy.json",
        generate: || render(delivery::cases()),
        check: |t| check_cases(t, delivery::run),
    },
    Kind {
        file: "schema/validation.json",
        generate: || render(schema::validation_cases()),
        check: |t| check_cases(t, schema::run_validation),
    },
    Kind {
        file: "schema/buckets.json",
        generate: || render(buckets::bucket_cases()),
        check: |t| check_cases(t, buckets::run_bucket),
    },
    Kind {
        file: "schema/names.json",
        generate: || render(names::name_cases()),
        check: |t| check_cases(t, names::run_name),
    },
];

/// The files [`write`] produces, relative to its directory.
pub fn files() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.file).collect()
}

/// Writes every kind's cases under `dir` (`consent/precedence.json`, …),
/// creating the folders; returns the paths written.
pub fn write(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    for kind in KINDS {
        let text = (kind.generate)().map_err(|e| format!("{}: {e}", kind.file))?;
        let path = dir.join(kind.file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Runs the committed cases under `dir` through this library: every file
/// [`write`] produces must be there, and every case must give its recorded
/// answer. Returns how many cases ran.
pub fn check(dir: &Path) -> Result<usize, String> {
    let mut ran = 0;
    for kind in KINDS {
        let path = dir.join(kind.file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        ran += (kind.check)(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(ran)
}

/// A case of some kind: its inputs, and the answer they give.
trait Case: Serialize + DeserializeOwned {
    /// The answer's type.
    type Want: PartialEq + std::fmt::Debug;
    /// The case's name, for messages.
    fn name(&self) -> &str;
    /// The recorded answer.
    fn want(&self) -> &Self::Want;
}

fn render<C: Serialize>(cases: Vec<C>) -> Result<String, String> {
    serde_json::to_string_pretty(&cases)
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())
}

fn check_cases<C: Case>(
    text: &str,
    run: fn(&C) -> Result<C::Want, String>,
) -> Result<usize, String> {
    let cases: Vec<C> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if cases.is_empty() {
        return Err("no cases".into());
    }
    let mut failures = Vec::new();
    for c in &cases {
        match run(c) {
            Ok(got) if &got == c.want() => {}
            Ok(got) => failures.push(format!("{:?}: got {got:?}, want {:?}", c.name(), c.want())),
            Err(e) => failures.push(format!("{:?}: {e}", c.name())),
        }
    }
    if failures.is_empty() {
        Ok(cases.len())
    } else {
        Err(failures.join("\n"))
    }
}

/// A fresh, empty directory for one case, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, String> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "tally-conformance-{}-{n}-{}",
            std::process::id(),
            crate::os::random::uuid()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `text` to `name` under the scratch directory, if there is text.
    fn put(&self, name: &str, text: Option<&str>) -> Result<PathBuf, String> {
        let path = self.path(name);
        if let Some(text) = text {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed vectors under the repository's `conformance/` are what
    /// this library answers: each case's inputs run through the library give
    /// its recorded answer. (`tally generate conformance conformance`
    /// rewrites them after a deliberate change.)
    #[test]
    fn committed_conformance_vectors_hold() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance");
        match check(&dir) {
            Ok(n) => assert!(n > 100, "only {n} cases ran"),
            Err(e) => panic!("{e}"),
        }
    }
}
