package tally

import "time"

// clock is the source of "now": the system clock in UTC, or a fixed
// instant a test injects through <PREFIX>_TELEMETRY_NOW, honoured only in
// builds with the tally_testhooks tag (see testHooksEnabled).
type clock struct {
	fixed *time.Time
}

// clockFromOverride reads an RFC 3339 instant or a bare YYYY-MM-DD (noon
// UTC that day); anything unparsable means the system clock.
func clockFromOverride(v string) clock {
	if v == "" {
		return clock{}
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		t = t.UTC()
		return clock{&t}
	}
	if validDay(v) {
		t, _ := time.Parse("2006-01-02", v)
		t = t.Add(12 * time.Hour)
		return clock{&t}
	}
	return clock{}
}

func (c clock) now() time.Time {
	if c.fixed != nil {
		return *c.fixed
	}
	return time.Now().UTC()
}

func (c clock) today() string   { return c.now().Format("2006-01-02") }
func (c clock) instant() string { return c.now().Format("2006-01-02T15:04:05Z") }
