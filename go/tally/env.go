package tally

import (
	"os"
	"strings"
)

// env is an immutable snapshot of the process environment, taken once.
type env map[string]string

func envFrom(pairs []string) env {
	e := make(env, len(pairs))
	for _, kv := range pairs {
		if i := strings.IndexByte(kv, '='); i > 0 {
			e[kv[:i]] = kv[i+1:]
		}
	}
	return e
}

func envFromProcess() env { return envFrom(os.Environ()) }

// nonEmpty returns the trimmed value of key when it is set and not blank.
func (e env) nonEmpty(key string) (string, bool) {
	v := strings.TrimSpace(e[key])
	return v, v != ""
}

func (e env) pairs() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		out = append(out, k+"="+v)
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
