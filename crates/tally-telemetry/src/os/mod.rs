//! What tally takes from the operating system, each behind one small
//! interface: the environment (a snapshot tests can replace), the clock
//! (which tests can pin), and careful file access (regular files only,
//! private modes, bounded reads). Everything above this folder reaches the
//! OS through here.

pub mod clock;
pub mod date;
pub mod env;
pub mod files;
#[cfg(all(
    feature = "system-tls",
    not(any(windows, target_vendor = "apple")),
    any(test, not(any(feature = "rustls", feature = "native-tls")))
))]
pub mod libssl;
pub mod lock;
pub mod random;
pub mod raw_path;
pub mod testhook;
pub mod uuid;
