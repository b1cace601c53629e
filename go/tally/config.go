package tally

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unicode/utf8"
)

// ConfigFileName is the consent file's name in the application's config
// directory.
const ConfigFileName = "telemetry.toml"

// UserConfig holds the consent file's settings; nil means absent.
type UserConfig struct {
	// Enabled is the stored choice.
	Enabled *bool
	// DecidedAt says when the choice was made (RFC 3339).
	DecidedAt *string
	// DecidedVia says how: prompt, command or otel-config.
	DecidedVia *string
	// ConsentVersion is the consent version the choice was made under.
	ConsentVersion *int
	// NoticeVersion is the consent version of the last notice shown.
	NoticeVersion *int
	// Endpoint is where batches go, if the user set one.
	Endpoint *string
	// FlushIntervalSecs is the interval of long-running flushes.
	FlushIntervalSecs *int64
}

// ConfigKind says how the consent file was found.
type ConfigKind int

// The states of the consent file.
const (
	// ConfigNoLocation: no config directory is known (no home).
	ConfigNoLocation ConfigKind = iota
	// ConfigAbsent: the file does not exist yet.
	ConfigAbsent
	// ConfigLoaded: the file was read and parsed.
	ConfigLoaded
	// ConfigBroken: the file exists but cannot be used; consent fails closed.
	ConfigBroken
)

// ConfigState is the consent file as loaded.
type ConfigState struct {
	// Kind says which state.
	Kind ConfigKind
	// User holds the settings when Kind is ConfigLoaded.
	User UserConfig
	// Problem says what is wrong when Kind is ConfigBroken.
	Problem string
}

// configKeys gives a consent file key's type ('b', 's', 'i'); 0: unknown.
// A switch, not a map: nothing is built at a host's start-up.
func configKeys(k string) byte {
	switch k {
	case "enabled":
		return 'b'
	case "decided_at", "decided_via", "endpoint":
		return 's'
	case "consent_version", "notice_version", "flush_interval_secs":
		return 'i'
	}
	return 0
}

// ParseConfig parses the text of a consent file strictly: an unknown key
// or a wrong type is an error naming it.
func ParseConfig(text string) (UserConfig, error) {
	var c UserConfig
	kv, err := parseFlatTOML(text)
	if err != nil {
		return c, err
	}
	for k, v := range kv {
		want := configKeys(k)
		if want == 0 {
			return c, fmt.Errorf("unknown key `%s`", k)
		}
		if v.kind != want {
			return c, fmt.Errorf("`%s` is %s, which is not its type", k, v.typeName())
		}
		v := v
		switch k {
		case "enabled":
			c.Enabled = &v.b
		case "decided_at":
			c.DecidedAt = &v.s
		case "decided_via":
			c.DecidedVia = &v.s
		case "endpoint":
			c.Endpoint = &v.s
		case "consent_version", "notice_version":
			if v.i < 0 || v.i > 1<<32-1 {
				return c, fmt.Errorf("`%s` is out of range", k)
			}
			n := int(v.i)
			if k == "consent_version" {
				c.ConsentVersion = &n
			} else {
				c.NoticeVersion = &n
			}
		case "flush_interval_secs":
			if v.i < 0 {
				return c, fmt.Errorf("`%s` is out of range", k)
			}
			c.FlushIntervalSecs = &v.i
		}
	}
	return c, nil
}

// realConfigPath follows a dotfile manager's links to the file behind path.
func realConfigPath(path string) string {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if r, err := filepath.EvalSymlinks(path); err == nil {
			return r
		}
	}
	return path
}

// LoadConfig loads the consent file at path ("" means no location).
func LoadConfig(path string) ConfigState {
	c, _ := loadConfig(path)
	return c
}

// loadConfig is LoadConfig with the stamp of the file it read, which New
// keeps as the consent file's generation: no second stat for it.
func loadConfig(path string) (ConfigState, fileStamp) {
	if path == "" {
		return ConfigState{Kind: ConfigNoLocation}, fileStamp{}
	}
	// Read without following a link first: a link (a dotfile manager's)
	// is refused as not regular, and only then resolved, so the common
	// case costs no lstat.
	b, st, err := readBounded(path, smallFileMax)
	if errors.Is(err, ErrNotRegular) {
		if real := realConfigPath(path); real != path {
			b, st, err = readBounded(real, smallFileMax)
		}
	}
	if err != nil {
		return ConfigState{Kind: ConfigBroken, Problem: "cannot be read: " + err.Error()}, configGeneration(path)
	}
	if b == nil {
		return ConfigState{Kind: ConfigAbsent}, st
	}
	if !utf8.Valid(b) {
		return ConfigState{Kind: ConfigBroken, Problem: "is not valid UTF-8"}, st
	}
	c, err := ParseConfig(string(b))
	if err != nil {
		return ConfigState{Kind: ConfigBroken, Problem: "is not valid: " + err.Error()}, st
	}
	return ConfigState{Kind: ConfigLoaded, User: c}, st
}

const configHeader = "# Telemetry consent, written by `telemetry on|off` and the prompt.\n# `telemetry status` shows what decides whether telemetry is on.\n"

func tomlStr(s string) *string { r := renderTOMLString(s); return &r }
func tomlInt(i int64) *string  { r := strconv.FormatInt(i, 10); return &r }
func tomlBool(b bool) *string  { r := strconv.FormatBool(b); return &r }

// editConfig applies changes to the consent file, keeping its comments,
// and replaces it atomically (0600). With repair, a file that does not
// parse is moved aside (telemetry.toml.broken-<unix time>) and a fresh one
// written; without, it is left alone and an error returned.
func editConfig(path string, repair bool, changes []tomlChange) error {
	if path == "" {
		return errors.New("no config directory is known (HOME is not set); set the <APP>_TELEMETRY variable instead")
	}
	real := realConfigPath(path)
	old, err := readOptional(real)
	text := configHeader
	switch {
	case err != nil && !repair:
		return err
	case err != nil:
		if e := os.Rename(real, fmt.Sprintf("%s.broken-%d", real, time.Now().Unix())); e != nil {
			return err
		}
	case old != nil:
		if _, perr := ParseConfig(string(old)); perr == nil && utf8.Valid(old) {
			text = string(old)
		} else if !repair {
			return fmt.Errorf("%s is not valid (%v); fix or delete it, then try again", path, perr)
		} else if e := os.Rename(real, fmt.Sprintf("%s.broken-%d", real, time.Now().Unix())); e != nil {
			return e
		}
	}
	out := setTOMLKeys(text, changes)
	if _, perr := ParseConfig(out); perr != nil {
		// Lines that were not what they seemed: write the settings afresh.
		out = setTOMLKeys(configHeader, changes)
	}
	if err := ensurePrivateDir(filepath.Dir(real)); err != nil {
		return err
	}
	return writeAtomic(real, []byte(out), true)
}

// choiceVia says how a choice was made, as stored in decided_via.
type choiceVia string

const (
	viaPrompt  choiceVia = "prompt"
	viaCommand choiceVia = "command"
	viaOtel    choiceVia = "otel-config"
)

func storeChoice(path string, enabled bool, via choiceVia, at string) error {
	return editConfig(path, true, []tomlChange{
		{"enabled", tomlBool(enabled)},
		{"decided_at", tomlStr(at)},
		{"decided_via", tomlStr(string(via))},
		{"consent_version", tomlInt(ConsentVersion)},
	})
}

func clearChoice(path string) error {
	return editConfig(path, false, []tomlChange{
		{"enabled", nil}, {"decided_at", nil}, {"decided_via", nil}, {"consent_version", nil},
	})
}

func storeNoticeVersion(path string) error {
	return editConfig(path, false, []tomlChange{{"notice_version", tomlInt(ConsentVersion)}})
}

// configGeneration is a cheap fingerprint of the consent file (size and
// modification time), so long-running processes notice a `telemetry off`
// made elsewhere without reading the file.
func configGeneration(path string) fileStamp {
	if path == "" {
		return fileStamp{}
	}
	return statStamp(path)
}
