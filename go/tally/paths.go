package tally

import (
	"errors"
	"io/fs"
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
	home := e.get("HOME")
	switch runtime.GOOS {
	case "windows":
		roaming, local := e.get("APPDATA"), e.get("LOCALAPPDATA")
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
		if d := e.get(v); filepath.IsAbs(d) {
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
	p, _ := resolvePathsChecked(o, e)
	return p
}

// resolvePathsChecked is resolvePaths; policyAbsent says the system policy
// file was just looked for and is not there, so New need not stat it again.
func resolvePathsChecked(o *Options, e env) (p Paths, policyAbsent bool) {
	cfgDir, stateDir := projectDirs(o.Name, e)
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
		var found bool
		p.PolicyFile, p.IgnoredPolicyFile, found = systemPolicyFileFound(root, o.Name)
		policyAbsent = !found
	}
	if v, ok := testHookVar(e, o.EnvPrefix+"_TELEMETRY_TEST_SYSTEM_POLICY_FILE"); ok {
		p.PolicyFile, p.IgnoredPolicyFile, policyAbsent = v, "", false
	}
	if v, ok := e.nonEmpty(o.EnvPrefix + "_POLICY_FILE"); ok {
		p.ExtraPolicyFile = v
	}
	return p, policyAbsent
}

// systemPolicyFile picks the administrator's file as the Rust library does:
// the one under the app's own name (<root>/<app>/telemetry.toml) where an
// administrator looks first, else the shared one of earlier versions
// (<root>/tally/<app>.toml). The first that exists applies on its own; when
// both exist the shared one is returned as ignored, so status can say so.
// A link counts as there: reading it decides (a dangling one is
// unreadable, which means off).
func systemPolicyFile(root, name string) (file, ignored string) {
	file, ignored, _ = systemPolicyFileFound(root, name)
	return file, ignored
}

// systemPolicyFileFound is systemPolicyFile; found is false only when
// neither file exists (two lstats; the usual case on a user's machine). A
// file that cannot be looked at (EACCES) counts as found, so reading it
// decides, and fails closed.
func systemPolicyFileFound(root, name string) (file, ignored string, found bool) {
	own := filepath.Join(root, name, "telemetry.toml")
	shared := filepath.Join(root, "tally", name+".toml")
	_, ownErr := os.Lstat(own)
	_, sharedErr := os.Lstat(shared)
	switch {
	case ownErr == nil && sharedErr == nil:
		return own, shared, true
	case sharedErr == nil:
		return shared, "", true
	}
	return own, "", !errors.Is(ownErr, fs.ErrNotExist)
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
