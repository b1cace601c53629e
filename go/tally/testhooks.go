package tally

// testHookVar returns a test-only variable's value, only in builds with the
// tally_testhooks tag.
func testHookVar(e env, name string) (string, bool) {
	if !testHooksEnabled {
		return "", false
	}
	return e.nonEmpty(name)
}
