package tally

import (
	"fmt"
	"strings"
)

// Source is what decided consent, in precedence order.
type Source int

// The sources of a consent decision, highest rank first.
const (
	SourcePolicy Source = iota
	SourceDoNotTrack
	SourceFlag
	SourceEnv
	SourceConfig
	SourceCI
	SourceDefault
)

var sourceWords = [...]string{"policy", "do_not_track", "flag", "env", "config", "ci", "default"}

// String returns the stable word used as decided_by.
func (s Source) String() string {
	if s >= 0 && int(s) < len(sourceWords) {
		return sourceWords[s]
	}
	return "default"
}

// Consent is the outcome of consent resolution.
type Consent struct {
	// Enabled says whether telemetry is on for this process.
	Enabled bool
	// DecidedBy is the rule that decided.
	DecidedBy Source
	// Reason is a sentence saying why, for people.
	Reason string
}

// ConsentInputs is everything consent depends on, for [ResolveConsent].
type ConsentInputs struct {
	// Prefix is the application's environment prefix (MYTOOL).
	Prefix string
	// Manage is what users type to manage telemetry ("mytool telemetry").
	Manage string
	// OptIn is true for applications that are off until accepted.
	OptIn bool
	// Env holds the environment as KEY=VALUE pairs.
	Env []string
	// NoTelemetryFlag is true when --no-telemetry was given on this run.
	NoTelemetryFlag bool
	// Policy is the policy in force.
	Policy PolicyState
	// PolicyPath names the policy file, for messages.
	PolicyPath string
	// Config is the consent file as loaded.
	Config ConfigState
	// ConfigPath names the consent file, for messages.
	ConfigPath string
}

// ResolveConsent applies the precedence table (first match wins) and
// returns the decision and warnings that never change it.
func ResolveConsent(in ConsentInputs) (Consent, []string) {
	return resolveConsent(in, envFrom(in.Env))
}

func resolveConsent(in ConsentInputs, e env) (Consent, []string) {
	var warnings []string
	off := func(s Source, r string) (Consent, []string) { return Consent{false, s, r}, warnings }
	switch in.Policy.Kind {
	case PolicyLoaded:
		if in.Policy.ForceOff {
			return off(SourcePolicy, "disabled by the system policy file "+in.PolicyPath)
		}
	case PolicyBroken:
		return off(SourcePolicy, fmt.Sprintf("disabled: the system policy file %s %s; ask your administrator to fix it", in.PolicyPath, in.Policy.Problem))
	}
	if v, ok := doNotTrack(e); ok {
		return off(SourceDoNotTrack, "disabled by DO_NOT_TRACK="+v)
	}
	if in.NoTelemetryFlag {
		return off(SourceFlag, "disabled by --no-telemetry on this run")
	}
	consentVar := in.Prefix + "_TELEMETRY"
	if v, ok := e.nonEmpty(consentVar); ok {
		on, known := ParseSwitch(v)
		note := ""
		if !known {
			warnings = append(warnings, fmt.Sprintf("%s=%q is not understood, so telemetry is off; use 1/true/on/yes or 0/false/off/no", consentVar, v))
			note = " (not understood, so off)"
		}
		word := "disabled"
		if on {
			word = "enabled"
		}
		return Consent{on, SourceEnv, fmt.Sprintf("%s by %s=%s%s", word, consentVar, v, note)}, warnings
	}
	cfgPath := in.ConfigPath
	if cfgPath == "" {
		cfgPath = "the config file"
	}
	switch in.Config.Kind {
	case ConfigBroken:
		return off(SourceConfig, fmt.Sprintf("disabled: the config file %s %s. Fix it, or delete it and choose again with `telemetry on` or `telemetry off`", cfgPath, in.Config.Problem))
	case ConfigLoaded:
		c := in.Config.User
		if c.Enabled != nil {
			cv := 1
			if c.ConsentVersion != nil {
				cv = *c.ConsentVersion
			}
			if in.OptIn && *c.Enabled && cv < ConsentVersion {
				return off(SourceDefault, fmt.Sprintf("disabled: you turned telemetry on under consent version %d, and what is collected changed since (version %d); run `%s prompt` or `%s on` to agree again", cv, ConsentVersion, in.Manage, in.Manage))
			}
			word := "disabled"
			if *c.Enabled {
				word = "enabled"
			}
			how := ""
			switch {
			case c.DecidedVia != nil && c.DecidedAt != nil:
				how = fmt.Sprintf(" (via %s, %s)", *c.DecidedVia, *c.DecidedAt)
			case c.DecidedVia != nil:
				how = fmt.Sprintf(" (via %s)", *c.DecidedVia)
			}
			return Consent{*c.Enabled, SourceConfig, fmt.Sprintf("%s by your choice stored in %s%s", word, cfgPath, how)}, warnings
		}
	}
	if v := detectCI(e); v != "" {
		return off(SourceCI, fmt.Sprintf("disabled in CI (%s is set): no prompt, no notice", v))
	}
	if in.OptIn {
		return off(SourceDefault, "disabled by default: no choice stored yet (this tool is opt-in)")
	}
	return Consent{true, SourceDefault, "enabled by default: no choice stored yet"}, warnings
}

// doNotTrack returns DO_NOT_TRACK's value when it asks for no tracking: set
// to anything but empty, 0 or false.
func doNotTrack(e env) (string, bool) {
	v, ok := e.nonEmpty("DO_NOT_TRACK")
	if !ok || v == "0" || strings.EqualFold(v, "false") {
		return "", false
	}
	return v, true
}

var ciVars = [...]string{
	"CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "CIRCLECI", "TRAVIS", "TF_BUILD",
	"JENKINS_URL", "TEAMCITY_VERSION", "BITBUCKET_BUILD_NUMBER", "CODEBUILD_BUILD_ID",
	"DRONE", "APPVEYOR", "SEMAPHORE", "BUILDKITE_BUILD_ID", "HUDSON_URL", "WOODPECKER",
	"CONTINUOUS_INTEGRATION",
}

// detectCI returns the first CI variable set to something other than
// empty, 0 or false.
func detectCI(e env) string {
	for _, k := range ciVars {
		if v, ok := e.nonEmpty(k); ok && v != "0" && !strings.EqualFold(v, "false") {
			return k
		}
	}
	return ""
}
