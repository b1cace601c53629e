package tally

import (
	"context"
	"os"
	"strings"
	"time"
)

// The delivery helper is the host's own executable started again with
// this argument and this environment variable (carrying the application's
// identity and locations as JSON). The package's init sees them, sends,
// and exits before the host's main runs.
const (
	helperMarker   = "__TALLY_DELIVER_HELPER"
	helperArg      = "--tally-deliver-helper"
	helperLifetime = 6 * time.Second
)

// The helper's spec: what it needs to resolve the same settings as its
// starter (the environment it gets as its own).
func encodeSpec(o Options, p Paths) []byte {
	return (&jw{}).str("name", o.Name).str("version", o.Version).str("env_prefix", o.EnvPrefix).bool("opt_in", o.OptIn).
		str("docs_url", o.DocsURL).str("endpoint", o.Endpoint).str("policy_file_option", o.PolicyFile).str("command", o.Command).
		bool("no_telemetry", o.NoTelemetry).str("rotate_machine_id", o.RotateMachineID).
		str("config_file", p.ConfigFile).str("state_dir", p.StateDir).str("policy_file", p.PolicyFile).
		str("extra_policy_file", p.ExtraPolicyFile).done()
}

func decodeSpec(b []byte) (Options, Paths, bool) {
	v, err := parseJSON(b)
	if err != nil || v.kind != 'o' {
		return Options{}, Paths{}, false
	}
	o := Options{Name: v.getStr("name"), Version: v.getStr("version"), EnvPrefix: v.getStr("env_prefix"), OptIn: v.getBool("opt_in"),
		DocsURL: v.getStr("docs_url"), Endpoint: v.getStr("endpoint"), PolicyFile: v.getStr("policy_file_option"),
		Command: v.getStr("command"), NoTelemetry: v.getBool("no_telemetry"), RotateMachineID: v.getStr("rotate_machine_id")}
	p := Paths{ConfigFile: v.getStr("config_file"), StateDir: v.getStr("state_dir"), PolicyFile: v.getStr("policy_file"),
		ExtraPolicyFile: v.getStr("extra_policy_file")}
	return o, p, o.Name != ""
}

func init() {
	// The argument first: looking up a variable makes the runtime copy the
	// whole environment into a map, which a host's start-up need not pay.
	if len(os.Args) < 2 || os.Args[1] != helperArg {
		return
	}
	spec, ok := os.LookupEnv(helperMarker)
	if !ok {
		return
	}
	runHelper(spec)
	os.Exit(0)
}

// runHelper sends what is due, bounded in time, silently.
func runHelper(spec string) {
	defer func() { _ = recover() }()
	time.AfterFunc(helperLifetime, func() { os.Exit(0) })
	opts, paths, ok := decodeSpec([]byte(spec))
	if !ok {
		return
	}
	var pairs []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, helperMarker+"=") {
			pairs = append(pairs, kv)
		}
	}
	s := resolveSettings(opts, envFrom(pairs), paths)
	ctx, cancel := context.WithTimeout(context.Background(), helperLifetime)
	defer cancel()
	_, _ = s.send(ctx, true, inheritedLock())
}

// deliveryDue: consent, a usable endpoint, the notice shown in an earlier
// run, no backoff in force, and a completed day (or an unfinished claim) at
// the head of the spool. A known head (headDueNow, headNotDue) comes from
// a caller that has checked the gate already.
func (s *settings) deliveryDue(head int8) bool {
	switch head {
	case headNotDue:
		return false
	case headUnknown:
		if s.sendGate() != "" || !(spool{s.paths.StateDir}).headDue(s.clock.today()) {
			return false
		}
	}
	d := stateDir(s.paths.StateDir)
	b := d.readBackoff()
	return b == nil || b.Until <= s.clock.now().Unix()
}

// startHelper starts the detached helper when a delivery is due (head:
// what the caller already knows of the spool's head); it never waits on
// the network and never writes to stdout.
func (t *Telemetry) startHelper(head int8) bool {
	s := t.s
	if t.opts.NoBackgroundSend || !s.deliveryDue(head) {
		return false
	}
	if s.debug {
		_, _ = s.send(context.Background(), true, nil)
		return true
	}
	d := stateDir(s.paths.StateDir)
	lock, err := openChecked(d.file(fileSendLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false
	}
	defer lock.Close()
	if !tryLock(lock) {
		return false // a sender is running
	}
	spec := encodeSpec(s.opts, s.paths)
	env := make([]string, 0, len(s.env.kv)+1)
	for _, kv := range s.env.pairs() {
		if !strings.HasPrefix(kv, helperMarker+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, helperMarker+"="+string(spec))
	p, err := spawnHelper(env, lock)
	if err != nil {
		d.noteError(s.clock.instant(), "could not start the delivery helper: "+err.Error())
		unlock(lock)
		return false
	}
	t.reapHelper()
	t.helper = p
	return true
}

// reapHelper collects an earlier helper that has ended, without waiting.
func (t *Telemetry) reapHelper() {
	if t.helper != noHelper && reap(t.helper) {
		t.helper = noHelper
	}
}
