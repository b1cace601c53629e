package tally

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Options describe the embedding application. Only Name is required.
type Options struct {
	// Name is the short lowercase application name, used for directories
	// and in the envelope.
	Name string
	// Version is the application's version, sent in the envelope.
	Version string
	// EnvPrefix is the prefix of the environment variables; derived from
	// Name when empty ("my-tool" gives MY_TOOL_TELEMETRY, ...).
	EnvPrefix string
	// OptIn makes telemetry off until the user accepts; the default is
	// opt-out (on, with a one-time notice and the first send in a later run).
	OptIn bool
	// DocsURL is where users can read what is collected (in the notice).
	DocsURL string
	// Endpoint is the full batch URL compiled into the application
	// (https://collector.example/v1/batch); the policy file, the
	// <PREFIX>_TELEMETRY_ENDPOINT variable and the consent file win over it.
	Endpoint string
	// PolicyFile overrides the system policy file (/etc/<name>/telemetry.toml,
	// else /etc/tally/<name>.toml).
	PolicyFile string
	// Command is the name of the host's subcommand holding status|on|off
	// ("telemetry" when empty), for the texts that tell users what to run.
	Command string
	// NoTelemetry is true when --no-telemetry was given on this run.
	NoTelemetry bool
	// Env replaces the process environment (KEY=VALUE pairs); nil reads it.
	Env []string
	// Paths replaces the platform locations; nil resolves them.
	Paths *Paths
	// NoBackgroundSend stops Close from starting the delivery helper.
	NoBackgroundSend bool
	// RotateMachineID replaces the machine id every "daily", "weekly",
	// "monthly" or "yearly" period ("" or "never": kept). The system policy
	// file's rotate_machine_id applies when it is more frequent.
	RotateMachineID string
}

func (o *Options) manage() string { return o.Name + " " + o.Command }

// defaultFlushInterval is the interval of long-running flushes.
const defaultFlushInterval = 6 * time.Hour

type settings struct {
	opts       Options
	env        env
	paths      Paths
	policy     PolicyState
	policyPath string
	config     ConfigState
	// configStamp is the consent file's size and mtime as it was read.
	configStamp fileStamp
	consent     Consent
	warnings    []string
	endpoint    string
	endpointBy  string
	debug       bool
	clock       clock
	ci          string
	instanceID  string
	flushEvery  time.Duration
	rotation    string
}

func resolveSettings(o Options, e env, paths Paths) *settings {
	return resolveSettingsWith(o, e, paths, false)
}

// resolveSettingsWith is resolveSettings; with policyAbsent (New, right
// after resolvePaths looked) the system policy file is taken as absent
// without another stat. Every later resolve looks again, so a policy an
// administrator adds reaches a long-running process.
func resolveSettingsWith(o Options, e env, paths Paths, policyAbsent bool) *settings {
	s := &settings{opts: o, env: e, paths: paths}
	var extra *PolicyState
	if paths.ExtraPolicyFile != "" {
		p := LoadPolicy(paths.ExtraPolicyFile)
		extra = &p
	}
	system := PolicyState{Kind: PolicyAbsent}
	if !policyAbsent {
		system = LoadPolicy(paths.PolicyFile)
	}
	s.policy, s.policyPath = CombinePolicy(system, paths.PolicyFile, extra, paths.ExtraPolicyFile)
	s.config, s.configStamp = loadConfig(paths.ConfigFile)
	s.consent, s.warnings = resolveConsent(ConsentInputs{
		Prefix: o.EnvPrefix, Manage: o.manage(), OptIn: o.OptIn, NoTelemetryFlag: o.NoTelemetry,
		Policy: s.policy, PolicyPath: s.policyPath, Config: s.config, ConfigPath: paths.ConfigFile,
	}, e)
	endpointVar := o.EnvPrefix + "_TELEMETRY_ENDPOINT"
	switch v, ok := e.nonEmpty(endpointVar); {
	case s.policy.Kind == PolicyLoaded && s.policy.Endpoint != "":
		s.endpoint, s.endpointBy = s.policy.Endpoint, "the policy file "+s.policyPath
	case ok:
		s.endpoint, s.endpointBy = v, endpointVar
	case s.config.Kind == ConfigLoaded && s.config.User.Endpoint != nil && strings.TrimSpace(*s.config.User.Endpoint) != "":
		s.endpoint, s.endpointBy = strings.TrimSpace(*s.config.User.Endpoint), paths.ConfigFile
	case strings.TrimSpace(o.Endpoint) != "":
		s.endpoint, s.endpointBy = strings.TrimSpace(o.Endpoint), "the application"
	}
	s.debug, _ = ParseSwitch(e.get(o.EnvPrefix + "_TELEMETRY_DEBUG"))
	now, _ := testHookVar(e, o.EnvPrefix+"_TELEMETRY_NOW")
	s.clock = clockFromOverride(now)
	s.ci = detectCI(e)
	idVar := o.EnvPrefix + "_TELEMETRY_INSTANCE_ID"
	if v, ok := e.nonEmpty(idVar); ok {
		if id, ok := parseUUID(v); ok {
			s.instanceID = id
		} else {
			s.warnings = append(s.warnings, idVar+" is not a UUID (8-4-4-4-12 hex digits) and is ignored")
		}
	}
	if paths.IgnoredPolicyFile != "" {
		s.warnings = append(s.warnings, paths.IgnoredPolicyFile+" is not read: "+paths.PolicyFile+" exists, and the policy file under the application's own name takes precedence; merge the two into it")
	}
	s.rotation = stricterRotation(strings.ToLower(strings.TrimSpace(o.RotateMachineID)), s.policy.Rotation)
	s.flushEvery = defaultFlushInterval
	if s.config.Kind == ConfigLoaded && s.config.User.FlushIntervalSecs != nil && *s.config.User.FlushIntervalSecs > 0 {
		s.flushEvery = time.Duration(*s.config.User.FlushIntervalSecs) * time.Second
	}
	ivVar := o.EnvPrefix + "_TELEMETRY_FLUSH_INTERVAL"
	if v, ok := e.nonEmpty(ivVar); ok {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil && n > 0 {
			s.flushEvery = time.Duration(n) * time.Second
		} else {
			s.warnings = append(s.warnings, ivVar+" must be a positive number of seconds; ignored")
		}
	}
	return s
}

func (s *settings) reresolve() *settings { return resolveSettings(s.opts, s.env, s.paths) }

// undecided: the choice is still the application's default.
func (s *settings) undecided() bool { return s.consent.DecidedBy == SourceDefault }

// canSend: an http:// or https:// endpoint is configured.
func (s *settings) canSend() bool { return endpointScheme(s.endpoint) != "" }

func (s *settings) noticeShown() bool {
	c := s.config.User
	return s.config.Kind == ConfigLoaded && c.NoticeVersion != nil && *c.NoticeVersion >= ConsentVersion
}

// staleYes: an explicit yes given under an older consent version.
func (s *settings) staleYes() bool {
	c := s.config.User
	if !s.consent.Enabled || s.consent.DecidedBy != SourceConfig || s.config.Kind != ConfigLoaded {
		return false
	}
	return c.ConsentVersion == nil || *c.ConsentVersion < ConsentVersion
}

func (s *settings) noticeDue() bool {
	return s.consent.Enabled && (s.undecided() || s.staleYes()) && s.canSend() && !s.noticeShown()
}

func (s *settings) noticeBlocksSending() bool {
	return (s.undecided() || s.staleYes()) && !s.noticeShown()
}

func (s *settings) noticeText() string {
	details := ""
	if s.opts.DocsURL != "" {
		details = " Details: " + s.opts.DocsURL
	}
	changed := ""
	if s.staleYes() {
		changed = "What " + s.opts.Name + " collects changed since you turned telemetry on. "
	}
	return fmt.Sprintf("%s%s collects anonymous usage counts (commands and outcomes; never arguments, paths or names) and sends daily totals from a later run. Turn off: `%s off` or DO_NOT_TRACK=1.%s",
		changed, s.opts.Name, s.opts.manage(), details)
}

func parseUUID(v string) (string, bool) {
	v = strings.ToLower(strings.TrimSpace(v))
	if len(v) != 36 {
		return "", false
	}
	for i := 0; i < 36; i++ {
		c := v[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return "", false
			}
		} else if !(isDigit(c) || (c >= 'a' && c <= 'f')) {
			return "", false
		}
	}
	return v, true
}

func newUUID() string {
	h := []byte(randomHex(16))
	h[12] = '4'
	h[16] = "89ab"[h[16]%4]
	return string(h[0:8]) + "-" + string(h[8:12]) + "-" + string(h[12:16]) + "-" + string(h[16:20]) + "-" + string(h[20:32])
}

// rotationRank orders the rotations, most frequent first; ok is false for
// an unknown word.
func rotationRank(r string) (rank int, ok bool) {
	switch r {
	case "daily":
		return 0, true
	case "weekly":
		return 1, true
	case "monthly":
		return 2, true
	case "yearly":
		return 3, true
	case "never", "":
		return 4, true
	}
	return 4, false
}

// stricterRotation returns the more frequent of two rotations.
func stricterRotation(a, b string) string {
	ra, ok := rotationRank(a)
	if !ok {
		ra, a = 4, ""
	}
	if rb, ok := rotationRank(b); ok && rb < ra {
		return b
	}
	if a == "never" {
		return ""
	}
	return a
}

// rotationPeriod names the period day falls in, as the Rust library
// stores it in machine_id_period ("" when the id is never replaced).
func rotationPeriod(rotation string, day time.Time) string {
	switch rotation {
	case "yearly":
		return day.Format("2006")
	case "monthly":
		return day.Format("2006-01")
	case "weekly":
		y, w := day.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	case "daily":
		return day.Format("2006-01-02")
	}
	return ""
}
