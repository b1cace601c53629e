package tally

import (
	"os"
	"strings"
)

// env is an immutable snapshot of the process environment, taken once:
// the KEY=VALUE pairs as they came, searched in place (a few dozen
// lookups in New cost less than building a map of every variable, which
// every run of a host would pay). A key set twice has its last value.
type env struct{ kv []string }

func envFrom(pairs []string) env { return env{pairs} }

func envFromProcess() env { return envFrom(os.Environ()) }

// get returns key's value, "" when it is not set.
func (e env) get(key string) string {
	for i := len(e.kv) - 1; i >= 0; i-- {
		if kv := e.kv[i]; len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key && key != "" {
			return kv[len(key)+1:]
		}
	}
	return ""
}

// nonEmpty returns the trimmed value of key when it is set and not blank.
func (e env) nonEmpty(key string) (string, bool) {
	v := strings.TrimSpace(e.get(key))
	return v, v != ""
}

// pairs returns the snapshot as KEY=VALUE pairs, each key once (its last
// value), for the delivery helper's environment.
func (e env) pairs() []string {
	seen := make(map[string]bool, len(e.kv))
	out := make([]string, 0, len(e.kv))
	for i := len(e.kv) - 1; i >= 0; i-- {
		kv := e.kv[i]
		j := strings.IndexByte(kv, '=')
		if j <= 0 || seen[kv[:j]] {
			continue
		}
		seen[kv[:j]] = true
		out = append(out, kv)
	}
	return out
}

// ParseSwitch reads an on/off value the way tally does everywhere:
// 1/true/on/yes/y/enable/enabled is on, 0/false/off/no/n/disable/disabled/
// none/never is off (case-insensitive); ok is false for anything else.
func ParseSwitch(v string) (on bool, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "on", "yes", "y", "enable", "enabled":
		return true, true
	case "0", "false", "off", "no", "n", "disable", "disabled", "none", "never":
		return false, true
	}
	return false, false
}

// PrefixFor derives an environment prefix from an application name:
// "my-tool" gives "MY_TOOL".
func PrefixFor(name string) string {
	b := []byte(name)
	for i, c := range b {
		switch {
		case isLower(c):
			b[i] = c - 'a' + 'A'
		case isAlnum(c):
		default:
			b[i] = '_'
		}
	}
	return string(b)
}
