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
		p.PolicyFile = defaultPolicyDir() + o.Name + ".toml"
	}
	if v, ok := testHookVar(e, o.EnvPrefix+"_TELEMETRY_TEST_SYSTEM_POLICY_FILE"); ok {
		p.PolicyFile = v
	}
	if v, ok := e.nonEmpty(o.EnvPrefix + "_POLICY_FILE"); ok {
		p.ExtraPolicyFile = v
	}
	return p
}

func defaultPolicyDir() string {
	if runtime.GOOS == "windows" {
		if pd := os.Getenv("ProgramData"); pd != "" {
			return filepath.Join(pd, "tally") + string(filepath.Separator)
		}
	}
	return "/etc/tally/"
}
