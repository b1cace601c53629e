//go:build !tally_testhooks

package tally

// testHooksEnabled is false in normal builds: no environment variable can
// move a user's clock or hide the administrator's policy file. Build with
// -tags tally_testhooks (as the end-to-end tests do) to honour them, the
// way the Rust library honours them in debug builds only.
const testHooksEnabled = false
