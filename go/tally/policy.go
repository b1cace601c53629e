package tally

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// PolicyKind says how the system policy file was found.
type PolicyKind int

// The states of a policy file.
const (
	// PolicyAbsent: no policy file, no effect.
	PolicyAbsent PolicyKind = iota
	// PolicyLoaded: a valid policy.
	PolicyLoaded
	// PolicyBroken: the file exists but cannot be used; telemetry is off.
	PolicyBroken
)

// PolicyState is a policy file as loaded.
type PolicyState struct {
	// Kind says which state.
	Kind PolicyKind
	// ForceOff is telemetry = "off".
	ForceOff bool
	// Endpoint is endpoint = "...", if set.
	Endpoint string
	// Rotation is rotate_machine_id, if set.
	Rotation string
	// AllowPlainHTTP is allow_plain_http = true.
	AllowPlainHTTP bool
	// Problem says what is wrong when Kind is PolicyBroken.
	Problem string
}

// policyKeys gives a policy file key's type ('s', 'b'); 0: unknown.
func policyKeys(k string) byte {
	switch k {
	case "telemetry", "endpoint", "rotate_machine_id":
		return 's'
	case "allow_plain_http":
		return 'b'
	}
	return 0
}

// ParsePolicy parses the text of a policy file.
func ParsePolicy(text string) PolicyState {
	kv, err := parseFlatTOML(text)
	if err != nil {
		return PolicyState{Kind: PolicyBroken, Problem: "is not valid: " + err.Error()}
	}
	p := PolicyState{Kind: PolicyLoaded}
	for k, v := range kv {
		want := policyKeys(k)
		if want == 0 {
			return PolicyState{Kind: PolicyBroken, Problem: fmt.Sprintf("is not valid: unknown key `%s`", k)}
		}
		if v.kind != want {
			return PolicyState{Kind: PolicyBroken, Problem: fmt.Sprintf("is not valid: `%s` is %s, which is not its type", k, v.typeName())}
		}
		switch k {
		case "telemetry":
			if strings.ToLower(v.s) != "off" {
				return PolicyState{Kind: PolicyBroken, Problem: fmt.Sprintf("sets telemetry = %q; the only accepted value is \"off\"", v.s)}
			}
			p.ForceOff = true
		case "endpoint":
			p.Endpoint = strings.TrimSpace(v.s)
		case "rotate_machine_id":
			switch w := strings.ToLower(strings.TrimSpace(v.s)); w {
			case "never", "daily", "weekly", "monthly", "yearly":
				p.Rotation = w
			default:
				return PolicyState{Kind: PolicyBroken, Problem: fmt.Sprintf("sets rotate_machine_id = %q; accepted: never, daily, weekly, monthly, yearly", v.s)}
			}
		case "allow_plain_http":
			p.AllowPlainHTTP = v.b
		}
	}
	return p
}

// LoadPolicy loads a policy file. It is written by an administrator, so it
// may be a symlink (followed), but only a regular file is read.
func LoadPolicy(path string) PolicyState {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return PolicyState{Kind: PolicyAbsent}
	}
	if err != nil {
		return PolicyState{Kind: PolicyBroken, Problem: "cannot be read: " + err.Error()}
	}
	if !fi.Mode().IsRegular() {
		return PolicyState{Kind: PolicyBroken, Problem: "cannot be read: not a regular file"}
	}
	f, err := os.Open(path)
	if err != nil {
		return PolicyState{Kind: PolicyBroken, Problem: "cannot be read: " + err.Error()}
	}
	defer f.Close()
	b, err := readAllInto(&limited{f, smallFileMax}, nil)
	if err != nil {
		return PolicyState{Kind: PolicyBroken, Problem: "cannot be read: " + err.Error()}
	}
	return ParsePolicy(string(b))
}

type limited struct {
	f *os.File
	n int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

// CombinePolicy restricts the system policy by an environment-named one:
// the extra file may turn telemetry off or add an endpoint, never remove
// what the system file says. It returns the policy and the path that decided.
func CombinePolicy(system PolicyState, systemPath string, extra *PolicyState, extraPath string) (PolicyState, string) {
	if extra == nil {
		return system, systemPath
	}
	switch {
	case system.Kind == PolicyBroken, system.Kind == PolicyLoaded && system.ForceOff:
		return system, systemPath
	case extra.Kind == PolicyBroken:
		return *extra, extraPath
	case extra.Kind == PolicyAbsent:
		return system, systemPath
	case system.Kind == PolicyAbsent:
		return *extra, extraPath
	}
	out := PolicyState{Kind: PolicyLoaded, ForceOff: extra.ForceOff, Endpoint: system.Endpoint,
		Rotation: system.Rotation, AllowPlainHTTP: system.AllowPlainHTTP && extra.AllowPlainHTTP}
	if out.Endpoint == "" {
		out.Endpoint = extra.Endpoint
	}
	out.Rotation = stricterRotation(system.Rotation, extra.Rotation)
	if extra.ForceOff {
		return out, extraPath
	}
	return out, systemPath
}
