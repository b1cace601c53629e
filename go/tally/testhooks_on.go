//go:build tally_testhooks

package tally

// testHooksEnabled is true in builds with the tally_testhooks tag: the
// clock (<PREFIX>_TELEMETRY_NOW) and the system policy file
// (<PREFIX>_TELEMETRY_TEST_SYSTEM_POLICY_FILE) follow the environment.
const testHooksEnabled = true
