package tally

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Paths are the resolved locations for one application, the same as the
// Rust library's (the `directories` crate's conventions).
type Paths struct {
	// ConfigFile is <config dir>/<app>/telemetry.toml ("" when no home).
	ConfigFile string
	// StateDir is the private state directory ("" when none is known).
	StateDir string
	// PolicyFile is the system policy file (may not exist).
	PolicyFile string
	// IgnoredPolicyFile is the shared /etc/tally/<app>.toml when the file
	// under the app's own name exists too (only the latter is read).
	IgnoredPolicyFile string
	// ExtraPolicyFile is named by <PREFIX>_POLICY_FILE; it may only restrict.
	ExtraPolicyFile string
}

func (p Paths) state(name string) string {
	if p.StateDir == "" {
		return ""
	}
	return filepath.Join(p.StateDir, name)
}

// The files of the state directory, as the Rust library names them.
const (
	fileMachineID       = "machine_id"
	fileMachineIDPeriod = "machine_id_period"
	fileMachineIDPast   = "machine_id_past"
	fileLastVersion     = "last_version"
	fileSpool           = "spool.jsonl"
	fileSpoolLock       = "spool.lock"
	fileSendLock        = "send.lock"
	fileLedger          = "sent.jsonl"
	fileBackoff         = "backoff.json"
	fileLastError       = "last_error"
)

var stateFiles = [...]string{fileMachineID, fileMachineIDPeriod, fileMachineIDPast, fileLastVersion, fileSpool,
	fileSpoolLock, fileSendLock, fileLedger, fileBackoff, fileLastError}

// projectDirs returns the config and state directories for app the way
// the Rust `directories` crate's ProjectDirs::from("", "", app) does.
func projectDirs(app string, e env) (config, state string) {
	home := e["HOME"]
	switch runtime.GOOS {
	case "windows":
		roaming, local := e["APPDATA"], e["LOCALAPPDATA"]
		if roaming == "" || local == "" {
			return "", ""
		}
		return filepath.Join(roaming, app, "config"), filepath.Join(local, app, "data")
	case "darwin", "ios":
		if home == "" {
			return "", ""
		}
		d := filepath.Join(home, "Library", "Application Support", strings.ReplaceAll(app, " ", "-"))
		return d, d
	}
	if home == "" {
		if h, err := os.UserHomeDir(); err == nil {
			home = h
		}
	}
	name := strings.ToLower(strings.Join(strings.Fields(app), ""))
	xdg := func(v, fallback string) string {
		if d := e[v]; filepath.IsAbs(d) {
			return filepath.Join(d, name)
		}
		if home == "" {
			return ""
		}
		return filepath.Join(home, fallback, name)
	}
	return xdg("XDG_CONFIG_HOME", ".config"), xdg("XDG_STATE_HOME", filepath.Join(".local", "state"))
}

func resolvePaths(o *Options, e env) Paths {
	cfgDir, stateDir := projectDirs(o.Name, e)
	var p Paths
	if cfgDir != "" {
		p.ConfigFile = filepath.Join(cfgDir, ConfigFileName)
	}
	p.StateDir = stateDir
	if v, ok := e.nonEmpty(o.EnvPrefix + "_TELEMETRY_DIR"); ok {
		p.StateDir = v
	}
	p.PolicyFile = o.PolicyFile
	if p.PolicyFile == "" {
		root := defaultPolicyRoot()
		if v, ok := testHookVar(e, o.EnvPrefix+"_TELEMETRY_TEST_SYSTEM_POLICY_ROOT"); ok {
			root = v
		}
		p.PolicyFile, p.IgnoredPolicyFile = systemPolicyFile(root, o.Name)
	}
	if v, ok := testHookVar(e, o.EnvPrefix+"_TELEMETRY_TEST_SYSTEM_POLICY_FILE"); ok {
		p.PolicyFile, p.IgnoredPolicyFile = v, ""
	}
	if v, ok := e.nonEmpty(o.EnvPrefix + "_POLICY_FILE"); ok {
		p.ExtraPolicyFile = v
	}
	return p
}

// systemPolicyFile picks the administrator's file as the Rust library does:
// the one under the app's own name (<root>/<app>/telemetry.toml) where an
// administrator looks first, else the shared one of earlier versions
// (<root>/tally/<app>.toml). The first that exists applies on its own; when
// both exist the shared one is returned as ignored, so status can say so.
// A link counts as there: reading it decides (a dangling one is
// unreadable, which means off).
func systemPolicyFile(root, name string) (file, ignored string) {
	own := filepath.Join(root, name, "telemetry.toml")
	shared := filepath.Join(root, "tally", name+".toml")
	there := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	switch {
	case there(own) && there(shared):
		return own, shared
	case there(shared):
		return shared, ""
	default:
		return own, ""
	}
}

// defaultPolicyRoot is the folder that holds administrators' files: /etc on
// Unix (macOS included), ProgramData on Windows.
func defaultPolicyRoot() string {
	if runtime.GOOS == "windows" {
		if pd := os.Getenv("ProgramData"); pd != "" {
			return pd
		}
	}
	return "/etc"
}
