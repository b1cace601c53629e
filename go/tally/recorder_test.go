package tally

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The open run keeps a pointer to its stats; a flush in the middle of the
// run swaps the table, and the run must still be counted, once, in the
// new one.
func TestARunOpenAcrossAFlushIsCountedInTheNextDrain(t *testing.T) {
	r := newRecorder()
	r.enabled.Store(true)
	r.command("build")
	if got := r.drain("2026-11-20", false); len(got) != 0 {
		t.Fatalf("an open run was drained: %+v", got)
	}
	r.finish(Success)
	got := r.drain("2026-11-20", false)
	if len(got) != 1 || *got[0].Name != "build" || *got[0].Outcome != "success" || got[0].N != 1 {
		t.Fatalf("got %+v", got)
	}
	// A command recorded while one is open ends that one as unknown.
	r.command("a")
	r.command("a")
	r.command("b")
	r.finish(Failure)
	got = r.drain("2026-11-20", true)
	want := map[string]uint64{"a/unknown": 2, "b/failure": 1}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for _, l := range got {
		if want[*l.Name+"/"+*l.Outcome] != l.N {
			t.Fatalf("%s/%s: %d", *l.Name, *l.Outcome, l.N)
		}
	}
}

// Past maxNames distinct commands, runs are counted as dropped.
func TestCommandsPastTheNameBoundAreDropped(t *testing.T) {
	r := newRecorder()
	r.enabled.Store(true)
	for i := 0; i < maxNames+3; i++ {
		r.command("c" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
		r.finish(Success)
	}
	var dropped uint64
	n := 0
	for _, l := range r.drain("2026-11-20", true) {
		if l.K == "dropped" {
			dropped = l.N
		} else {
			n++
		}
	}
	if n != maxNames || dropped != 3 {
		t.Fatalf("%d names kept, %d dropped", n, dropped)
	}
}

// RecordClient and SetFact write the client and fact lines a Rust host
// writes (the Rust library's record_client and set_fact), so the batch
// carries clients and facts whichever language recorded them.
func TestClientsAndFactsReachTheSpoolAsRustWritesThem(t *testing.T) {
	dir := t.TempDir()
	p := Paths{ConfigFile: filepath.Join(dir, "cfg", ConfigFileName), StateDir: filepath.Join(dir, "state"), PolicyFile: filepath.Join(dir, "policy.toml")}
	tl, _ := New(Options{Name: "demo", Env: []string{}, Paths: &p, NoBackgroundSend: true})
	tl.RecordClient("Claude Code", "2.1.0")
	tl.RecordClient("claude-code", "v2")
	tl.RecordClient("some editor", "")
	for _, c := range []struct {
		name, value string
		ok          bool
	}{
		{"backend_count", "6-10", true},
		{"backend_count", "2-5", true}, // the last value wins
		{"backend_count", "7", false},
		{"declares_tools", "true", true},
		{"declares_tools", "yes", false},
		{"protocol_version", "2025-06-18", true},
		{"day", "2026-11-20", false},
		{"hostname", "alice-laptop", false},
	} {
		if got := tl.SetFact(c.name, c.value); got != c.ok {
			t.Errorf("SetFact(%q, %q) = %v", c.name, c.value, got)
		}
	}
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(p.StateDir, fileSpool))
	if err != nil {
		t.Fatal(err)
	}
	spooled := string(b)
	for _, want := range []string{
		`"k":"client","name":"claude-code","major":2,"n":2}`,
		`"k":"client","name":"other","n":1}`,
		`"k":"fact","name":"backend_count","n":1,"val":"2-5"}`,
		`"k":"fact","name":"declares_tools","n":1,"val":"true"}`,
		`"k":"fact","name":"protocol_version","n":1,"val":"2025-06-18"}`,
	} {
		if !strings.Contains(spooled, want) {
			t.Errorf("no %s in\n%s", want, spooled)
		}
	}
	if strings.Contains(spooled, "alice") || strings.Contains(spooled, `"val":"7"`) || strings.Contains(spooled, "6-10") {
		t.Errorf("a refused or replaced value was kept:\n%s", spooled)
	}
	lines, bad := parseSpool(b)
	if bad != 0 || string(encodeLines(lines)) != spooled {
		t.Fatalf("the lines do not re-encode byte for byte (%d bad)", bad)
	}
	var clients, facts int
	for _, ev := range eventsFrom(lines) {
		clients += strings.Count(string(ev), `"client":`)
		facts += strings.Count(string(ev), `"backend_count":"2-5"`)
	}
	if clients != 2 || facts != 1 {
		t.Fatalf("events carry %d clients and %d backend_count facts", clients, facts)
	}

	off, _ := New(Options{Name: "demo", Env: []string{"DO_NOT_TRACK=1"}, Paths: &Paths{}})
	off.RecordClient("cursor", "1")
	if !off.SetFact("uptime", "<1h") || off.SetFact("uptime", "forever") {
		t.Fatal("SetFact's answer is the value's validity, on or off")
	}
	if got := off.rec.drain("2026-11-20", true); len(got) != 0 {
		t.Fatalf("off recorded %+v", got)
	}
	var nilT *Telemetry
	nilT.RecordClient("cursor", "1")
	if !nilT.SetFact("sessions", "1") {
		t.Fatal("a nil handle refused a valid fact")
	}
}
