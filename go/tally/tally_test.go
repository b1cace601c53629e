package tally

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Lines as the Rust library writes them parse and re-encode byte for byte.
func TestSpoolLinesMatchRust(t *testing.T) {
	written := `{"v":2,"day":"2026-11-20","k":"command","name":"build","n":1}
{"v":2,"day":"2026-11-20","k":"command","name":"cache clean","outcome":"failure","n":2,"lat":[1,1,1,1,1,1,1]}
{"v":2,"day":"2026-11-20","k":"tool","outcome":"ok","n":3}
{"v":2,"day":"2026-11-20","k":"tool","name":"search","outcome":"protocol_error","class":"invalid_params","n":4,"b":"67e55044-10b1-426f-9247-bb680e5fe0c8"}
{"v":2,"day":"2026-11-20","k":"client","name":"claude-code","major":2,"n":5}
{"v":2,"day":"2026-11-20","k":"client","name":"other","n":6}
{"v":2,"day":"2026-11-20","k":"lifecycle","kind":"upgrade","n":1}
{"v":2,"day":"2026-11-20","k":"fact","name":"backend_count","n":1,"val":"2-5"}
{"v":2,"day":"2026-11-20","k":"dropped","n":7}
`
	lines, bad := parseSpool([]byte(written))
	if bad != 0 {
		t.Fatalf("%d bad lines", bad)
	}
	if got := string(encodeLines(lines)); got != written {
		t.Fatalf("re-encoded differently:\n%s", got)
	}
	_, bad = parseSpool([]byte("{\"v\":3,\"day\":\"2026-11-20\",\"k\":\"dropped\",\"n\":1}\nnot json\n{\"v\":2,\"day\":\"2026-02-30\",\"k\":\"dropped\",\"n\":1}\n"))
	if bad != 3 {
		t.Fatalf("bad = %d, want 3", bad)
	}
}

func TestEventsDropWhatTheSchemaRefuses(t *testing.T) {
	lines, _ := parseSpool([]byte(`{"v":2,"day":"2026-11-20","k":"command","name":"build","outcome":"success","n":2,"lat":[2,0,0,0,0,0,0]}
{"v":2,"day":"2026-11-20","k":"command","name":"/home/alice/secret","outcome":"success","n":1}
`))
	ev := eventsFrom(lines)
	if len(ev) != 1 {
		t.Fatalf("%d events", len(ev))
	}
	want := `{"type":"usage_rollup","day":"2026-11-20","commands":[{"command":"build","outcome":"success","count":2,"duration":[2,0,0,0,0,0,0]}],"dropped":1}`
	if string(ev[0]) != want {
		t.Fatalf("got %s", ev[0])
	}
}

func TestCommandPathsAndToolNames(t *testing.T) {
	for _, ok := range []string{"build", "config otel get", "a b c d", "x-1_y"} {
		if !ValidCommandPath(ok) {
			t.Error(ok)
		}
	}
	for _, bad := range []string{"", "a  b", "a b c d e", "Build", "-x", " a", "a/b", strings.Repeat("a", 33)} {
		if ValidCommandPath(bad) {
			t.Error(bad)
		}
	}
	if !ValidToolName("Search.v2-x") || ValidToolName(".x") || ValidToolName("a b") {
		t.Error("tool names")
	}
}

func TestBuckets(t *testing.T) {
	if LatencyBucket(9*time.Millisecond) != 0 || LatencyBucket(10*time.Millisecond) != 1 || LatencyBucket(time.Hour) != 6 {
		t.Error("latency")
	}
	if DurationBucket(99*time.Millisecond) != 0 || DurationBucket(300*time.Second) != 6 {
		t.Error("duration")
	}
	if OutcomeFromExitCode(0) != Success || OutcomeFromExitCode(2) != UsageError || OutcomeFromExitCode(130) != Interrupted || OutcomeFromExitCode(1) != Failure {
		t.Error("exit codes")
	}
}

func TestTOMLRoundTripKeepsComments(t *testing.T) {
	text := "# mine\nenabled = false # old\nendpoint = 'http://x'\n"
	out := setTOMLKeys(text, []tomlChange{{"enabled", tomlBool(true)}, {"notice_version", tomlInt(2)}})
	c, err := ParseConfig(out)
	if err != nil || !strings.HasPrefix(out, "# mine\n") || *c.Enabled != true || *c.NoticeVersion != 2 || *c.Endpoint != "http://x" {
		t.Fatalf("%q %v", out, err)
	}
	for _, bad := range []string{"[telemetry]\nenabled = true\n", "enabled = \"yes\"\n", "enabled = [1]\n", "x = 1\n", "enabled = true\nenabled = false\n"} {
		if _, err := ParseConfig(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if s := renderTOMLString("a\"b\\c\n\x01"); s != `"a\"b\\c\n\u0001"` {
		t.Error(s)
	}
}

// Hostile state: a symlinked or oversized spool is refused or bounded.
func TestHostileStateFiles(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	os.WriteFile(target, []byte("x"), 0o600)
	os.Symlink(target, filepath.Join(dir, fileSpool))
	if _, _, err := (spool{dir}).read(); err == nil {
		t.Fatal("followed a symlinked spool")
	}
	os.Remove(filepath.Join(dir, fileSpool))
	os.Mkdir(filepath.Join(dir, fileSpool), 0o700)
	if err := (spool{dir}).appendLines([]spoolLine{newLine("2026-01-01", "dropped", 1)}, "2026-01-01"); err == nil {
		t.Fatal("appended to a directory")
	}
	os.Remove(filepath.Join(dir, fileSpool))
	big := strings.Repeat(`{"v":2,"day":"2026-01-01","k":"dropped","n":1}`+"\n", 20000)
	os.WriteFile(filepath.Join(dir, fileSpool), []byte(big), 0o600)
	lines, bad, err := (spool{dir}).read()
	if err != nil || bad == 0 || len(encodeLines(lines)) > spoolCap {
		t.Fatalf("unbounded read: %d lines, %d bad, %v", len(lines), bad, err)
	}
}

// End to end in one process: record, close, and find the counts in the
// spool; off leaves no file at all.
func TestCloseWritesTheSpoolAndOffWritesNothing(t *testing.T) {
	dir := t.TempDir()
	p := Paths{ConfigFile: filepath.Join(dir, "cfg", ConfigFileName), StateDir: filepath.Join(dir, "state"), PolicyFile: filepath.Join(dir, "policy.toml")}
	tl, _ := New(Options{Name: "demo", Version: "1.0.0", Env: []string{}, Paths: &p, NoBackgroundSend: true})
	tl.RecordCommand("config otel get")
	tl.FinishExitCode(0)
	tl.RecordToolCall("search", ToolOK, 3*time.Millisecond)
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(p.StateDir, fileSpool))
	if err != nil || !strings.Contains(string(b), `"name":"config otel get","outcome":"success","n":1`) || !strings.Contains(string(b), `"k":"tool","name":"search"`) {
		t.Fatalf("spool: %s %v", b, err)
	}
	dir2 := t.TempDir()
	p2 := Paths{ConfigFile: filepath.Join(dir2, "cfg", ConfigFileName), StateDir: filepath.Join(dir2, "state"), PolicyFile: filepath.Join(dir2, "policy.toml")}
	off, _ := New(Options{Name: "demo", Env: []string{"DO_NOT_TRACK=1"}, Paths: &p2})
	off.RecordCommand("build")
	off.Close()
	if entries, _ := os.ReadDir(dir2); len(entries) != 0 {
		t.Fatalf("off wrote %v", entries)
	}
}

func TestInvalidNameIsOffNotNil(t *testing.T) {
	tl, err := New(Options{Name: "Bad Name"})
	if err == nil || tl == nil || tl.Enabled() {
		t.Fatal("want an error and a disabled handle")
	}
	tl.RecordCommand("x")
	tl.Close()
	var nilT *Telemetry
	nilT.RecordCommand("x")
	nilT.Close()
}

func TestUUIDAndVersions(t *testing.T) {
	id := newUUID()
	if _, ok := parseUUID(id); !ok || id[14] != '4' {
		t.Fatal(id)
	}
	if !newerVersion("1.10.0", "1.9.9") || newerVersion("1.0.0", "1.0.1") || !newerVersion("1.2.0", "1.2") {
		t.Fatal("versions")
	}
}

func BenchmarkRecordToolCall(b *testing.B) {
	tl := benchHandle(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tl.RecordToolCall("search", ToolOK, 3*time.Millisecond)
	}
}

func BenchmarkRecordToolCallParallel(b *testing.B) {
	tl := benchHandle(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tl.RecordToolCall("search", ToolOK, 3*time.Millisecond)
		}
	})
}

// A path as the cobra hook passes it (CommandPath of `thv config
// get-registry`); each call also ends the previous run, as in a REPL.
func BenchmarkRecordCommand(b *testing.B) {
	tl := benchHandle(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tl.RecordCommand("config get-registry")
	}
}

// One command run as a cobra host makes it: the hook's RecordCommand, then
// Execute's FinishExitCode.
func BenchmarkRecordCommandRun(b *testing.B) {
	tl := benchHandle(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tl.RecordCommand("config get-registry")
		tl.FinishExitCode(0)
	}
}

// The floor under RecordCommand: the one monotonic clock read it makes
// (time.Since). On a VM this alone can take 50 ns or more.
func BenchmarkRecordClockRead(b *testing.B) {
	t0 := time.Now()
	var d time.Duration
	for i := 0; i < b.N; i++ {
		d += time.Since(t0)
	}
	if d < 0 {
		b.Fatal(d)
	}
}

func BenchmarkRecordOff(b *testing.B) {
	tl, _ := New(Options{Name: "demo", Env: []string{"DO_NOT_TRACK=1"}, Paths: &Paths{}})
	for i := 0; i < b.N; i++ {
		tl.RecordToolCall("search", ToolOK, 3*time.Millisecond)
	}
}

func benchHandle(b *testing.B) *Telemetry {
	dir := b.TempDir()
	p := Paths{ConfigFile: filepath.Join(dir, "c.toml"), StateDir: filepath.Join(dir, "s"), PolicyFile: filepath.Join(dir, "p")}
	tl, _ := New(Options{Name: "demo", Env: []string{}, Paths: &p, NoBackgroundSend: true})
	if !tl.Enabled() {
		b.Fatal("off")
	}
	return tl
}

// The hand-written encoder agrees with a JSON decoder on every string.
func TestSpoolStringsRoundTrip(t *testing.T) {
	for _, s := range []string{"plain", "quote\"back\\slash", "ctl\x01\x1f\n\r\t\b\f", "ünïcødé ✓", "bad\xffutf8", "<>&", "\u2028"} {
		l := newLine("2026-01-01", "command", 1)
		l.Name = &s
		b := encodeLines([]spoolLine{l})
		var back spoolLine
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q: %v (%s)", s, err, b)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); *back.Name != want {
			t.Errorf("%q came back as %q", s, *back.Name)
		}
	}
}

func TestHeadDue(t *testing.T) {
	dir := t.TempDir()
	sp := spool{dir}
	os.WriteFile(sp.path(), []byte(`{"v":2,"day":"2026-11-19","k":"command","name":"a","n":1}`+"\n"), 0o600)
	if !sp.headDue("2026-11-20") || sp.headDue("2026-11-19") {
		t.Error("day")
	}
	os.WriteFile(sp.path(), []byte(`{"v":2,"day":"2026-11-20","k":"command","name":"a","n":1,"b":"x"}`+"\n"), 0o600)
	if !sp.headDue("2026-11-20") {
		t.Error("claim")
	}
	os.WriteFile(sp.path(), []byte(`{"day":"2026-11-20","v":2,"k":"command","name":"a","n":1}`+"\n"), 0o600)
	if sp.headDue("2026-11-20") || !sp.headDue("2026-11-21") {
		t.Error("other field order")
	}
}

// Close stops the interval flush and waits for it: no goroutine is left.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	dir := t.TempDir()
	before := runtime.NumGoroutine()
	p := Paths{ConfigFile: filepath.Join(dir, "c.toml"), StateDir: filepath.Join(dir, "s"), PolicyFile: filepath.Join(dir, "p")}
	tl, _ := New(Options{Name: "demo", Env: []string{"DEMO_TELEMETRY_FLUSH_INTERVAL=1"}, Paths: &p, NoBackgroundSend: true})
	tl.StartIntervalFlush()
	tl.RecordToolCall("x", ToolOK, time.Millisecond)
	if runtime.NumGoroutine() <= before {
		t.Fatal("the flush goroutine did not start")
	}
	time.Sleep(1200 * time.Millisecond)
	if b, _ := os.ReadFile(filepath.Join(p.StateDir, fileSpool)); !strings.Contains(string(b), `"name":"x"`) {
		t.Fatalf("the interval flush did not persist: %q", b)
	}
	tl.Close()
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before", n, before)
	}
}

func TestMachineIDRotation(t *testing.T) {
	day := func(s string) time.Time { d, _ := time.Parse("2006-01-02", s); return d }
	for _, c := range [][3]string{{"monthly", "2026-11-25", "2026-11"}, {"weekly", "2026-11-25", "2026-W48"}, {"weekly", "2021-01-03", "2020-W53"},
		{"weekly", "2027-01-01", "2026-W53"}, {"yearly", "2026-11-25", "2026"}, {"daily", "2026-11-25", "2026-11-25"}, {"", "2026-11-25", ""}} {
		if got := rotationPeriod(c[0], day(c[1])); got != c[2] {
			t.Errorf("%v: %q", c, got)
		}
	}
	if stricterRotation("yearly", "monthly") != "monthly" || stricterRotation("daily", "monthly") != "daily" || stricterRotation("", "weekly") != "weekly" || stricterRotation("never", "") != "" {
		t.Error("stricter")
	}
	d := stateDir(t.TempDir())
	a, _ := d.currentID("2026-11")
	b, _ := d.currentID("2026-11")
	c, _ := d.currentID("2026-12")
	if a == "" || a != b || c == a {
		t.Fatalf("%s %s %s", a, b, c)
	}
}

// The hand-written JSON agrees with encoding/json: valid, and laid out as
// json.Indent lays it out.
func TestHandWrittenJSON(t *testing.T) {
	lines, bad := parseSpool([]byte(`{"v":2,"day":"2026-11-20","k":"command","name":"build","outcome":"success","n":2,"lat":[2,0,0,0,0,0,0]}
{"v":2,"day":"2026-11-20","k":"tool","name":"search","outcome":"protocol_error","class":"invalid_params","n":4,"lat":[1,1,1,1,0,0,0]}
{"v":2,"day":"2026-11-20","k":"client","name":"claude-code","major":2,"n":5}
{"v":2,"day":"2026-11-20","k":"fact","name":"declares_tools","n":1,"val":"true"}
{"v":2,"day":"2026-11-20","k":"lifecycle","kind":"upgrade","n":1}
`))
	if bad != 0 {
		t.Fatal(bad)
	}
	b := batch{envelope: Envelope{App: "demo", AppVersion: "1", OS: "linux", Arch: "x86_64", Schema: 2, MachineID: "m\"x", BatchID: "b"}, events: eventsFrom(lines)}
	body := b.encode()
	if !json.Valid(body) {
		t.Fatalf("invalid: %s", body)
	}
	want := `{"envelope":{"app":"demo","app_version":"1","os":"linux","arch":"x86_64","ci":false,"schema":2,"machine_id":"m\"x","batch_id":"b"},"events":[{"type":"usage_rollup","day":"2026-11-20","commands":[{"command":"build","outcome":"success","count":2,"duration":[2,0,0,0,0,0,0]}],"tool_calls":[{"tool":"search","outcome":"protocol_error","error_class":"invalid_params","count":4,"latency":[1,1,1,1,0,0,0]}],"clients":[{"client":"claude-code","major":2,"count":5}]},{"type":"facts","day":"2026-11-20","declares_tools":true},{"type":"lifecycle","kind":"upgrade","day":"2026-11-20","count":1}]}`
	if string(body) != want {
		t.Fatalf("got\n%s", body)
	}
	var buf bytes.Buffer
	json.Indent(&buf, body, "", "  ")
	if got := string(indentJSON(body)); got != buf.String() {
		t.Fatalf("indent differs:\n%s\n%s", got, buf.String())
	}
	st := Status{Enabled: true, DecidedBy: "env", Reason: "a \"b\"", Warnings: []string{"w"}}
	var back map[string]interface{}
	if err := json.Unmarshal(st.JSON(), &back); err != nil || back["reason"] != "a \"b\"" {
		t.Fatalf("%v %s", err, st.JSON())
	}
	for _, bad := range []string{
		`{"v":2,"day":"2026-11-20","k":"command","name":1,"n":1}`,
		`{"v":2,"day":"2026-11-20","k":"command","name":"a","n":-1}`,
		`{"v":2,"day":"2026-11-20","k":"command","name":"a","n":1,"lat":[1,2]}`,
		`{"v":2,"day":"2026-11-20","k":"tool","outcome":"ok","class":"nope","n":1}`,
		`{"v":2,"day":"2026-11-20","k":"tool","outcome":"maybe","n":1}`,
		`{"v":2,"day":"2026-11-20","k":"command","name":"a","name":"b","n":1}`,
		`{"v":2,"day":"2026-11-20","k":"command","name":"a","n":1}x`,
		`{"v":2,"day":"2026-11-20","k":"command","name":"\ud800","n":1}`,
	} {
		if l, err := decodeLine([]byte(bad)); err == nil && l.valid() {
			t.Errorf("accepted %s", bad)
		}
	}
	if l, err := decodeLine([]byte(`{"v":2,"day":"2026-11-20","k":"command","name":"\u00e9\n","n":1,"extra":[{"x":null}]}`)); err != nil || *l.Name != "é\n" {
		t.Errorf("%v", err)
	}
	o, p, ok := decodeSpec(encodeSpec(Options{Name: "demo", OptIn: true, Endpoint: "http://x/\"y"}, Paths{StateDir: "/s"}))
	if !ok || o.Name != "demo" || !o.OptIn || o.Endpoint != "http://x/\"y" || p.StateDir != "/s" {
		t.Errorf("spec: %+v %+v", o, p)
	}
}
