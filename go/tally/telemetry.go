package tally

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Telemetry is a host's handle on telemetry for this process. Its methods
// are safe for concurrent use and on a nil *Telemetry (they do nothing).
type Telemetry struct {
	opts Options
	s    *settings
	rec  *recorder

	mu          sync.Mutex
	closed      bool
	managing    bool
	generation  fileStamp
	noticeShown bool
	helper      helperProc
	stop        chan struct{}
	done        chan struct{}
}

// ErrInvalidName is returned by New for a name the schema does not accept
// ([a-z0-9][a-z0-9_-]{0,39}); telemetry is then off.
var ErrInvalidName = errors.New("tally: the application name must match [a-z0-9][a-z0-9_-]{0,39}")

func validAppName(n string) bool {
	if n == "" || len(n) > 40 || !(isLower(n[0]) || isDigit(n[0])) {
		return false
	}
	for i := 1; i < len(n); i++ {
		if c := n[i]; !(isLower(c) || isDigit(c) || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// New resolves consent and locations once and returns the handle. It
// never returns a nil *Telemetry: on an error telemetry is simply off for
// this process, and the error says why. It does no I/O beyond reading the
// consent and policy files, and opens no socket.
func New(o Options) (t *Telemetry, err error) {
	if o.Command == "" {
		o.Command = "telemetry"
	}
	if o.EnvPrefix == "" {
		o.EnvPrefix = PrefixFor(o.Name)
	}
	t = &Telemetry{opts: o, rec: newRecorder()}
	defer func() {
		if r := recover(); r != nil {
			t.s, err = nil, fmt.Errorf("tally: internal error: %v", r)
		}
	}()
	if !validAppName(o.Name) {
		return t, ErrInvalidName
	}
	e := envFromProcess()
	if o.Env != nil {
		e = envFrom(o.Env)
	}
	var p Paths
	policyAbsent := false
	if o.Paths != nil {
		p = *o.Paths
	} else {
		p, policyAbsent = resolvePathsChecked(&o, e)
	}
	t.s = resolveSettingsWith(o, e, p, policyAbsent)
	t.generation = t.s.configStamp
	t.rec.enabled.Store(t.s.consent.Enabled)
	return t, nil
}

// Enabled reports whether telemetry is on for this process.
func (t *Telemetry) Enabled() bool { return t != nil && t.rec.enabled.Load() }

// RecordCommand starts counting one run of a command by its subcommand
// path ("config otel get"), never its arguments. The run is counted when
// FinishCommand (or Exit, Run, Close) says how it ended. Memory only.
func (t *Telemetry) RecordCommand(path string) {
	if t != nil {
		t.rec.command(path)
	}
}

// FinishCommand counts the run RecordCommand started as ended with outcome.
func (t *Telemetry) FinishCommand(outcome CommandOutcome) {
	if t != nil {
		t.rec.finish(outcome)
	}
}

// FinishExitCode counts the open run with the outcome its exit code means.
func (t *Telemetry) FinishExitCode(code int) { t.FinishCommand(OutcomeFromExitCode(code)) }

// RecordToolCall counts one MCP tool call; pass "" as the name to count the
// outcome only. Memory only.
func (t *Telemetry) RecordToolCall(name string, outcome ToolOutcome, d time.Duration) {
	if t != nil {
		t.rec.tool(name, outcome, d)
	}
}

// RecordClient counts one MCP session's client by its clientInfo name and
// version: the name is mapped onto the schema's clients (anything unknown
// is "other", see ClientName) and only the major version is kept. Memory
// only.
func (t *Telemetry) RecordClient(name, version string) {
	if t != nil {
		t.rec.client(name, version)
	}
}

// SetFact sets a deployment fact for today: name is a field of the
// schema's facts event (backend_count, sessions, auth_type,
// conflict_strategy, uptime, protocol_version, declares_tools,
// declares_resources, declares_prompts) and value one it allows ("true" or
// "false" for the declares_ flags; CountBucket and UptimeBucket give the
// buckets). It returns false, recording nothing, for anything else. The
// last value set in a day is sent. Memory only.
func (t *Telemetry) SetFact(name, value string) bool {
	if t == nil {
		return setFact(&factsEvent{}, name, value)
	}
	return t.rec.fact(name, value)
}

// Flush appends what was recorded so far to the spool (and shows the
// notice when it is due). Long-running hosts call it, or
// StartIntervalFlush; a short command relies on Close. It re-checks the
// consent file with a stat, so a `telemetry off` made elsewhere stops
// recording here too.
func (t *Telemetry) Flush() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := t.persist(false, false)
	return err
}

// What persist learnt of the spool's head on the way: nothing, a delivery
// is due, or none is.
const (
	headUnknown int8 = iota
	headDueNow
	headNotDue
)

// persist appends the counts to the spool. With wantHead (Close, when a
// delivery could start) it also reports whether the spool's head is due,
// read through the descriptor it appended with.
func (t *Telemetry) persist(closing, wantHead bool) (head int8, err error) {
	defer func() {
		if r := recover(); r != nil {
			head, err = headUnknown, fmt.Errorf("tally: internal error: %v", r)
		}
	}()
	if t.s == nil {
		return headUnknown, nil
	}
	today := t.s.clock.today()
	lines := t.rec.drain(today, closing)
	if len(lines) == 0 || !t.s.consent.Enabled {
		return headUnknown, nil
	}
	if g := configGeneration(t.s.paths.ConfigFile); g != t.generation {
		t.generation = g
		if !t.s.reresolve().consent.Enabled {
			t.rec.enabled.Store(false)
			return headUnknown, nil
		}
	}
	if t.s.paths.StateDir == "" {
		return headUnknown, nil
	}
	d := stateDir(t.s.paths.StateDir)
	if d.noteVersion(t.opts.Version) {
		l := newLine(today, "lifecycle", 1)
		l.Kind = strp("upgrade")
		lines = append(lines, l)
	}
	due, err := (spool{string(d)}).appendLinesHead(lines, today, wantHead)
	if err != nil {
		d.noteError(t.s.clock.instant(), err.Error())
		return headUnknown, err
	}
	t.showNotice()
	switch {
	case !wantHead:
		return headUnknown, nil
	case due:
		return headDueNow, nil
	}
	return headNotDue, nil
}

// Close ends telemetry for this process: it stops the interval flush,
// counts a run still open as "unknown", appends the counts to the spool,
// and starts the detached delivery helper when a completed day is waiting.
// It never waits on the network. Call it with defer in main, and use Exit
// (or Run) where the host would call os.Exit. Close is idempotent.
func (t *Telemetry) Close() error {
	if t == nil {
		return nil
	}
	t.stopInterval()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	// Whether a delivery could start is known before the append, so the
	// append can read the spool's head for it.
	want := t.s != nil && t.rec.enabled.Load() && !t.managing && !t.opts.NoBackgroundSend && t.s.sendGate() == ""
	head, err := t.persist(true, want)
	if want && t.rec.enabled.Load() {
		func() {
			defer func() { _ = recover() }()
			t.startHelper(head)
		}()
	}
	t.rec.enabled.Store(false)
	return err
}

// ManagementRun marks this run as one of the telemetry commands (status,
// on, off, log, ...): Close then starts no delivery helper, as a Rust
// host's `telemetry …` runs start none (`flush` sends in the foreground;
// the others only look or change the choice). The cobra adapter calls it.
func (t *Telemetry) ManagementRun() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.managing = true
	t.mu.Unlock()
}

// Exit counts the open run with the outcome of code, closes telemetry and
// exits the process with code. Use it instead of os.Exit: os.Exit skips
// deferred calls, so a run ended by os.Exit alone loses its counts.
func (t *Telemetry) Exit(code int) {
	t.FinishExitCode(code)
	_ = t.Close()
	os.Exit(code)
}

// Run calls main, counts the open run with the outcome of its exit code,
// closes telemetry and returns the code: os.Exit(t.Run(realMain)). A panic
// in main is counted as a failure, and telemetry closed, before it goes on.
func (t *Telemetry) Run(main func() int) int {
	done := false
	defer func() {
		if !done {
			t.FinishCommand(Failure)
			_ = t.Close()
		}
	}()
	code := main()
	done = true
	t.FinishExitCode(code)
	_ = t.Close()
	return code
}

// StartIntervalFlush starts one goroutine that flushes every flush interval
// (6 h; the consent file's flush_interval_secs or
// <PREFIX>_TELEMETRY_FLUSH_INTERVAL change it) and at each UTC midnight,
// then starts the delivery helper when something is due. Close stops it
// and waits for it, so no goroutine is left running.
func (t *Telemetry) StartIntervalFlush() {
	if t == nil || !t.Enabled() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stop != nil || t.closed {
		return
	}
	t.stop, t.done = make(chan struct{}), make(chan struct{})
	go t.flushLoop(t.stop, t.done)
}

func (t *Telemetry) flushLoop(stop, done chan struct{}) {
	defer close(done)
	for {
		now := time.Now().UTC()
		wait := t.s.flushEvery
		if m := now.Truncate(24 * time.Hour).Add(24 * time.Hour).Sub(now); m < wait {
			wait = m + time.Second
		}
		timer := time.NewTimer(wait)
		select {
		case <-stop:
			timer.Stop()
			return
		case <-timer.C:
		}
		t.mu.Lock()
		_, _ = t.persist(false, false)
		on := t.rec.enabled.Load()
		if on {
			func() {
				defer func() { _ = recover() }()
				t.reapHelper()
				fresh := t.s.reresolve()
				if fresh.consent.Enabled {
					saved := t.s
					t.s = fresh
					t.startHelper(headUnknown)
					t.s = saved
				}
			}()
		}
		t.mu.Unlock()
		if !on {
			return
		}
	}
}

func (t *Telemetry) stopInterval() {
	t.mu.Lock()
	stop, done := t.stop, t.done
	t.stop = nil
	t.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// SendNow appends the counts so far and delivers what is due in the
// foreground, within the sender's timeouts (`telemetry flush`).
func (t *Telemetry) SendNow(ctx context.Context) (SendResult, error) {
	if t == nil || t.s == nil {
		return SendResult{Skipped: "telemetry is not set up"}, nil
	}
	if err := t.Flush(); err != nil {
		return SendResult{}, err
	}
	return t.s.reresolve().send(ctx, false, nil)
}

// Status describes what decides telemetry for this application.
type Status struct {
	// Enabled says whether telemetry is on.
	Enabled bool `json:"enabled"`
	// DecidedBy is the stable word of the deciding rule.
	DecidedBy string `json:"decided_by"`
	// Reason is the sentence saying why.
	Reason string `json:"reason"`
	// Warnings lists problems that did not change the decision.
	Warnings []string `json:"warnings,omitempty"`
	// ConfigFile is the consent file.
	ConfigFile string `json:"config_file"`
	// StateDir is the state directory.
	StateDir string `json:"state_dir"`
	// PolicyFile is the system policy file.
	PolicyFile string `json:"policy_file"`
	// Endpoint is where batches go, without credentials.
	Endpoint string `json:"endpoint,omitempty"`
	// EndpointProblem says why the endpoint cannot be used.
	EndpointProblem string `json:"endpoint_problem,omitempty"`
	// NoticeShown says whether the current notice was shown.
	NoticeShown bool `json:"notice_shown"`
	// LastError is the last local failure, if any.
	LastError string `json:"last_error,omitempty"`
}

// JSON returns the status as indented JSON (`telemetry status --json`).
func (st Status) JSON() []byte {
	w := (&jw{}).bool("enabled", st.Enabled).str("decided_by", st.DecidedBy).str("reason", st.Reason)
	if len(st.Warnings) > 0 {
		w.strs("warnings", st.Warnings)
	}
	w.str("config_file", st.ConfigFile).str("state_dir", st.StateDir).str("policy_file", st.PolicyFile)
	if st.Endpoint != "" {
		w.str("endpoint", st.Endpoint)
	}
	if st.EndpointProblem != "" {
		w.str("endpoint_problem", st.EndpointProblem)
	}
	w.bool("notice_shown", st.NoticeShown)
	if st.LastError != "" {
		w.str("last_error", st.LastError)
	}
	return append(indentJSON(w.done()), '\n')
}

// Status re-reads the files and returns what decides telemetry now.
func (t *Telemetry) Status() Status {
	if t == nil || t.s == nil {
		return Status{DecidedBy: "default", Reason: "telemetry is not set up"}
	}
	s := t.s.reresolve()
	st := Status{Enabled: s.consent.Enabled, DecidedBy: s.consent.DecidedBy.String(), Reason: s.consent.Reason,
		Warnings: s.warnings, ConfigFile: s.paths.ConfigFile, StateDir: s.paths.StateDir, PolicyFile: s.policyPath,
		Endpoint: redactURL(s.endpoint), EndpointProblem: s.transportProblem(), NoticeShown: s.noticeShown()}
	if s.paths.StateDir != "" {
		st.LastError = stateDir(s.paths.StateDir).lastError()
	}
	return st
}

// SetEnabled stores an explicit choice (`telemetry on|off`, via "command";
// `config otel set usage-analytics-enabled`, via "otel-config"). Off also
// deletes everything kept in the state directory, the machine id included.
func (t *Telemetry) SetEnabled(on bool, via string) error {
	if t == nil || t.s == nil {
		return errors.New("tally: telemetry is not set up")
	}
	v := viaCommand
	switch via {
	case string(viaOtel):
		v = viaOtel
	case string(viaPrompt):
		v = viaPrompt
	}
	if err := storeChoice(t.s.paths.ConfigFile, on, v, t.s.clock.instant()); err != nil {
		return err
	}
	if !on {
		t.forget()
	}
	return nil
}

// ClearChoice forgets the stored choice (back to the default policy).
func (t *Telemetry) ClearChoice() error {
	if t == nil || t.s == nil {
		return errors.New("tally: telemetry is not set up")
	}
	return clearChoice(t.s.paths.ConfigFile)
}

// StoredChoice returns the choice stored in the consent file, if any.
func (t *Telemetry) StoredChoice() (on bool, ok bool) {
	if t == nil || t.s == nil {
		return false, false
	}
	c := LoadConfig(t.s.paths.ConfigFile)
	if c.Kind == ConfigLoaded && c.User.Enabled != nil {
		return *c.User.Enabled, true
	}
	return false, false
}

func (t *Telemetry) forget() {
	t.rec.enabled.Store(false)
	t.rec.drain("", true)
	if t.s.paths.StateDir != "" {
		stateDir(t.s.paths.StateDir).deleteAll()
	}
}

// Pending returns the batch the next send would post, as JSON, without
// creating any file (the machine id shows as stored, or empty).
func (t *Telemetry) Pending() ([]byte, error) {
	if t == nil || t.s == nil || t.s.paths.StateDir == "" {
		return []byte("null"), nil
	}
	s := t.s.reresolve()
	d := stateDir(s.paths.StateDir)
	lines, _, err := (spool{string(d)}).read()
	if err != nil {
		return nil, err
	}
	id, out := peekOutgoing(lines, s.clock.today(), maxLines, s.batchPeriod)
	if len(out) == 0 {
		return []byte("null"), nil
	}
	m := s.instanceID
	if m == "" {
		m = d.readMachineID()
	}
	b := s.buildBatch(m, id, out)
	return indentJSON(b.encode()), nil
}

// Log returns the ledger of what was sent, oldest first.
func (t *Telemetry) Log() []LedgerEntry {
	if t == nil || t.s == nil || t.s.paths.StateDir == "" {
		return nil
	}
	return stateDir(t.s.paths.StateDir).ledger()
}

// Manage is what users type to manage telemetry ("mytool telemetry").
func (t *Telemetry) Manage() string {
	if t == nil {
		return ""
	}
	return t.opts.manage()
}

// PromptDue reports whether a first-run question may be asked: nothing has
// decided yet and this is not CI.
func (t *Telemetry) PromptDue() bool {
	return t != nil && t.s != nil && t.s.reresolve().consent.DecidedBy == SourceDefault
}

// RecordInstall appends an install lifecycle event for today (what the
// installer's `telemetry prompt` records after a yes).
func (t *Telemetry) RecordInstall() error {
	if t == nil || t.s == nil || t.s.paths.StateDir == "" || !t.s.reresolve().consent.Enabled {
		return nil
	}
	l := newLine(t.s.clock.today(), "lifecycle", 1)
	l.Kind = strp("install")
	return (spool{t.s.paths.StateDir}).appendLines([]spoolLine{l}, t.s.clock.today())
}
