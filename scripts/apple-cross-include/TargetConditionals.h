/* A stand-in for the macOS SDK's TargetConditionals.h, so that ring's C
 * sources compile for *-apple-darwin on a Linux CI machine that has clang
 * but no SDK (scripts/check_targets.sh). The objects are only compiled for
 * `cargo clippy`, never linked or shipped. ring reads these two. */
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
