package tally

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The exit path reads the spool's head through the descriptor it appends
// with; it must agree with headDue, including on a first line longer than
// the first read.
func TestAppendReportsTheHeadAsHeadDueDoes(t *testing.T) {
	line := func(day string) spoolLine {
		l := newLine(day, "command", 1)
		l.Name, l.Outcome = strp("build"), strp("success")
		return l
	}
	for _, c := range []struct {
		name, before string
		want         bool
	}{
		{"empty spool", "", false},
		{"today first", string(encodeLines([]spoolLine{line("2026-11-20")})), false},
		{"yesterday first", string(encodeLines([]spoolLine{line("2026-11-19")})), true},
		{"a claimed line first", strings.Replace(string(encodeLines([]spoolLine{line("2026-11-20")})), `"n":1`, `"n":1,"b":"67e55044-10b1-426f-9247-bb680e5fe0c8"`, 1), true},
		{"a long garbage line first", strings.Repeat("x", 3*firstLineBytes) + "\n", true},
		{"a long line of today first", `{"v":2,"day":"2026-11-20","k":"command","name":"` + strings.Repeat("a", firstLineBytes) + `","n":1}` + "\n", false},
		{"a long claimed line first, the claim past the first read", `{"v":2,"day":"2026-11-20","k":"command","name":"` + strings.Repeat("a", firstLineBytes) + `","n":1,"b":"67e55044-10b1-426f-9247-bb680e5fe0c8"}` + "\n", true},
	} {
		dir := t.TempDir()
		sp := spool{dir}
		if c.before != "" {
			if err := os.WriteFile(sp.path(), []byte(c.before), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		due, err := sp.appendLinesHead([]spoolLine{line("2026-11-20")}, "2026-11-20", true)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if due != c.want || sp.headDue("2026-11-20") != c.want {
			t.Errorf("%s: appendLinesHead says %v, headDue %v, want %v", c.name, due, sp.headDue("2026-11-20"), c.want)
		}
		b, _ := os.ReadFile(sp.path())
		if !strings.HasSuffix(string(b), string(encodeLines([]spoolLine{line("2026-11-20")}))) {
			t.Errorf("%s: the line was not appended: %q", c.name, b)
		}
	}
}

// New keeps the stamp of the consent file it read as the generation; a
// `telemetry off` stored by another process afterwards still stops this
// one from writing at Close.
func TestOffStoredElsewhereAfterNewStopsTheAppend(t *testing.T) {
	dir := t.TempDir()
	p := Paths{ConfigFile: filepath.Join(dir, "cfg", ConfigFileName), StateDir: filepath.Join(dir, "state"), PolicyFile: filepath.Join(dir, "policy.toml")}
	if err := storeChoice(p.ConfigFile, true, viaCommand, "2026-11-20T00:00:00Z"); err != nil {
		t.Fatal(err)
	}
	tl, _ := New(Options{Name: "demo", Env: []string{}, Paths: &p, NoBackgroundSend: true})
	if !tl.Enabled() {
		t.Fatal("off")
	}
	other, _ := New(Options{Name: "demo", Env: []string{}, Paths: &p, NoBackgroundSend: true})
	if err := other.SetEnabled(false, "command"); err != nil {
		t.Fatal(err)
	}
	tl.RecordCommand("build")
	tl.FinishExitCode(0)
	_ = tl.Close()
	if _, err := os.Stat(filepath.Join(p.StateDir, fileSpool)); !os.IsNotExist(err) {
		t.Fatalf("the spool was written after off: %v", err)
	}
}

// The consent file is read without an lstat first; one behind a link (a
// dotfile manager's) is still followed, and a directory in its place is
// still refused.
func TestConsentFileBehindALinkIsRead(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "telemetry.toml")
	if err := os.MkdirAll(filepath.Dir(real), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte("enabled = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "cfg", ConfigFileName)
	_ = os.MkdirAll(filepath.Dir(link), 0o700)
	if err := os.Symlink(real, link); err != nil {
		t.Skip("no symlinks here:", err)
	}
	c, st := loadConfig(link)
	if c.Kind != ConfigLoaded || c.User.Enabled == nil || *c.User.Enabled || !st.exists || st != configGeneration(link) {
		t.Fatalf("through the link: %+v, stamp %+v vs %+v", c, st, configGeneration(link))
	}
	asDir := filepath.Join(dir, "d", ConfigFileName)
	_ = os.MkdirAll(asDir, 0o700)
	if c, _ := loadConfig(asDir); c.Kind != ConfigBroken {
		t.Fatalf("a directory: %+v", c)
	}
}

// readBounded stops at the size fstat gave without a read that returns 0,
// and still reads everything, and no more than max.
func TestReadBoundedReadsWholeFilesAndStopsAtMax(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 100, 4096, 5000} {
		path := filepath.Join(dir, "f")
		want := strings.Repeat("z", n)
		if err := os.WriteFile(path, []byte(want), 0o600); err != nil {
			t.Fatal(err)
		}
		b, st, err := readBounded(path, 4096)
		if err != nil || st.size != int64(n) {
			t.Fatalf("%d: %v, size %d", n, err, st.size)
		}
		if n > 4096 {
			want = want[:4096]
		}
		if string(b) != want {
			t.Fatalf("%d: read %d bytes", n, len(b))
		}
	}
}

// validDay is written by hand (no time.Parse on the exit path); it agrees
// with time.Parse on every day of four centuries and on near misses.
func TestValidDayAgreesWithTimeParse(t *testing.T) {
	for d := time.Date(1999, 12, 25, 0, 0, 0, 0, time.UTC); d.Year() < 2402; d = d.AddDate(0, 0, 1) {
		if !validDay(d.Format("2006-01-02")) {
			t.Fatal(d)
		}
	}
	for _, s := range []string{"2026-02-29", "2100-02-29", "1900-02-29", "2000-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "2026-01-00", "20a6-01-01", "2026-1-011", "+026-01-01", "2026-01-1x"} {
		_, err := time.Parse("2006-01-02", s)
		if validDay(s) != (err == nil) {
			t.Fatal(s)
		}
	}
}

// The environment snapshot is searched in place rather than copied into
// a map; it answers as the map did: the last value of a key set twice, no
// match on a longer key sharing the prefix, nothing for entries without
// '='. The helper gets each key once.
func TestEnvSnapshotAnswersAsTheMapDid(t *testing.T) {
	e := envFrom([]string{"HOMEDIR=/x", "HOME=/first", "NOEQUALS", "=weird", "HOME=/last", "EMPTY=", "DEMO_TELEMETRY= off "})
	if e.get("HOME") != "/last" || e.get("HOM") != "" || e.get("NOEQUALS") != "" || e.get("") != "" || e.get("HOMEDIR") != "/x" {
		t.Fatalf("HOME=%q HOM=%q NOEQUALS=%q empty=%q", e.get("HOME"), e.get("HOM"), e.get("NOEQUALS"), e.get(""))
	}
	if v, ok := e.nonEmpty("DEMO_TELEMETRY"); !ok || v != "off" {
		t.Fatalf("nonEmpty = %q %v", v, ok)
	}
	if _, ok := e.nonEmpty("EMPTY"); ok {
		t.Fatal("a blank value counts as set")
	}
	got := strings.Join(e.pairs(), " ")
	if strings.Count(got, "HOME=") != 1 || !strings.Contains(got, "HOME=/last") || strings.Contains(got, "NOEQUALS") || strings.Contains(got, "=weird") {
		t.Fatalf("pairs: %s", got)
	}
}
