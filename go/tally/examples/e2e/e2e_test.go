// Package e2e runs the example hosts as a user would: real binaries (built
// with the tally_testhooks tag so the clock can be moved), a temp HOME, a
// real `tally serve` on 127.0.0.1, `tally report --json`, and strace for
// off-is-off. TALLY_BIN names the tally binary.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var bin string // directory of the built hosts

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tally-go-e2e")
	if err != nil {
		panic(err)
	}
	bin = dir
	for _, b := range [][]string{
		{"-tags", "tally_testhooks", "-o", filepath.Join(dir, "thv"), "github.com/tally-telemetry/tally-go/examples/thv"},
		{"-tags", "tally_testhooks", "-o", filepath.Join(dir, "mcpserver"), "github.com/tally-telemetry/tally-go/examples/mcpserver"},
		{"-tags", "tally_testhooks", "-o", filepath.Join(dir, "minihost"), "github.com/tally-telemetry/tally-go/examples/minihost"},
	} {
		cmd := exec.Command("go", append([]string{"build"}, b...)...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building the example hosts failed:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// user is one person's machine: a temp HOME and nothing else from ours.
type user struct {
	t    *testing.T
	home string
	env  []string
}

func newUser(t *testing.T, extra ...string) *user {
	home := t.TempDir()
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "LANG=C",
		"THV_TELEMETRY_TEST_SYSTEM_POLICY_FILE=" + filepath.Join(home, "no-policy.toml"),
		"MCPSERVER_TELEMETRY_TEST_SYSTEM_POLICY_FILE=" + filepath.Join(home, "no-policy.toml")}
	// Registered after TempDir's own cleanup, so it runs first: a helper
	// still delivering holds send.lock and writes under HOME until it exits.
	t.Cleanup(func() {
		for _, app := range []string{"thv", "mcpserver"} {
			lock := filepath.Join(home, ".local/state", app, "send.lock")
			for end := time.Now().Add(15 * time.Second); !lockFree(lock) && time.Now().Before(end); {
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	return &user{t, home, append(env, extra...)}
}

func (u *user) run(extraEnv []string, name string, args ...string) (stdout, stderr string) {
	u.t.Helper()
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Env = append(append([]string{}, u.env...), extraEnv...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	_ = cmd.Run()
	return o.String(), e.String()
}

// files returns every file under the user's HOME with its content.
func (u *user) files() map[string]string {
	out := map[string]string{}
	filepath.Walk(u.home, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			out[strings.TrimPrefix(p, u.home)] = string(b)
		}
		return nil
	})
	return out
}

const noticeText = "collects anonymous usage counts"

func TestNoticeOnceOnStderrNeverStdout(t *testing.T) {
	u := newUser(t, "THV_TELEMETRY_ENDPOINT=http://127.0.0.1:9/v1/batch")
	out, errOut := u.run(nil, "thv", "list")
	if !strings.Contains(errOut, noticeText) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("first run stderr: %q", errOut)
	}
	if strings.Contains(out, noticeText) || out != "NAME\tSTATUS\nfetch\trunning\n" {
		t.Fatalf("stdout: %q", out)
	}
	if _, errOut = u.run(nil, "thv", "list"); errOut != "" {
		t.Fatalf("second run stderr: %q", errOut)
	}
}

// No socket at all, no file at all, when telemetry is off, even with a
// completed day waiting and an endpoint set.
func TestOffIsOff(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Fatal("strace is needed (apt-get install strace)")
	}
	for _, c := range []struct {
		name string
		env  []string
		args []string
	}{
		{"DO_NOT_TRACK", []string{"DO_NOT_TRACK=1"}, []string{"list"}},
		{"env off", []string{"THV_TELEMETRY=0"}, []string{"list"}},
		{"flag", nil, []string{"list", "--no-telemetry"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := newUser(t, "THV_TELEMETRY_ENDPOINT=http://127.0.0.1:9/v1/batch", "THV_TELEMETRY_NOW=2026-11-20T10:00:00Z")
			trace := filepath.Join(t.TempDir(), "strace.log")
			cmd := exec.Command("strace", append([]string{"-f", "-e", "trace=connect,socket", "-o", trace, filepath.Join(bin, "thv")}, c.args...)...)
			cmd.Env = append(append([]string{}, u.env...), c.env...)
			var errOut bytes.Buffer
			cmd.Stderr = &errOut
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v: %s", err, errOut.String())
			}
			log, _ := os.ReadFile(trace)
			if strings.Contains(string(log), "AF_INET") {
				t.Fatalf("an inet socket was opened:\n%s", log)
			}
			if f := u.files(); len(f) != 0 {
				t.Fatalf("files written: %v", f)
			}
			if errOut.Len() != 0 {
				t.Fatalf("stderr: %q", errOut.String())
			}
		})
	}
	t.Run("telemetry off deletes and then nothing", func(t *testing.T) {
		u := newUser(t, "THV_TELEMETRY_ENDPOINT=http://127.0.0.1:9/v1/batch")
		u.run([]string{"THV_TELEMETRY_NOW=2026-11-19T10:00:00Z"}, "thv", "list")
		u.run(nil, "thv", "telemetry", "off")
		trace := filepath.Join(t.TempDir(), "strace.log")
		cmd := exec.Command("strace", "-f", "-e", "trace=connect,socket", "-o", trace, filepath.Join(bin, "thv"), "list")
		cmd.Env = append(append([]string{}, u.env...), "THV_TELEMETRY_NOW=2026-11-21T10:00:00Z")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		log, _ := os.ReadFile(trace)
		if strings.Contains(string(log), "AF_INET") {
			t.Fatalf("an inet socket was opened:\n%s", log)
		}
		for p := range u.files() {
			if !strings.HasSuffix(p, "/telemetry.toml") {
				t.Fatalf("left behind: %s", p)
			}
		}
	})
}

// server is a real `tally serve` on 127.0.0.1 behind a relay that keeps
// every byte clients send, for the privacy canary.
type server struct {
	url   string
	store string
	mu    sync.Mutex
	wire  bytes.Buffer
}

func startServe(t *testing.T) *server {
	tallyBin := os.Getenv("TALLY_BIN")
	if tallyBin == "" {
		t.Fatal("TALLY_BIN must name the tally binary (cargo build --bin tally)")
	}
	s := &server{store: filepath.Join(t.TempDir(), "store.sqlite3")}
	cmd := exec.Command(tallyBin, "serve", "--listen", "127.0.0.1:0", "--db", s.store)
	cmd.Env = append(os.Environ(), "TALLY_TELEMETRY=0", "HOME="+t.TempDir())
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`listening on http://(127\.0\.0\.1:\d+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var backend string
	select {
	case backend = <-addr:
	case <-time.After(20 * time.Second):
		t.Fatal("tally serve did not start")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				defer b.Close()
				go func() { io.Copy(c, b); c.Close() }()
				io.Copy(io.MultiWriter(b, &lockedWriter{s}), c)
			}()
		}
	}()
	s.url = "http://" + ln.Addr().String() + "/v1/batch"
	return s
}

type lockedWriter struct{ s *server }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.wire.Write(p)
}

func (s *server) sent() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wire.String()
}

func (s *server) report(t *testing.T, app string) map[string]interface{} {
	cmd := exec.Command(os.Getenv("TALLY_BIN"), "report", "--db", s.store, "--json", "--since", "2026-11-01", "--min-machines", "1", "--app", app)
	cmd.Env = append(os.Environ(), "TALLY_TELEMETRY=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tally report: %v", err)
	}
	var r map[string]interface{}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out)
	}
	return r
}

// lockFree says whether no process holds the lock file at path.
func lockFree(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return os.IsNotExist(err)
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// A fast command's completed day reaches a real `tally serve` through the
// detached helper on the first run of the next day, `tally report` shows
// the counts, and the canary passed as argument and flag values is in no
// file written and in no byte sent.
func TestCompletedDayDeliveredAndReported(t *testing.T) {
	srv := startServe(t)
	canary := fmt.Sprintf("CANARY-%d-zq", time.Now().UnixNano())
	u := newUser(t, "THV_TELEMETRY_ENDPOINT="+srv.url)
	day1 := []string{"THV_TELEMETRY_NOW=2026-11-19T10:00:00Z"}
	_, errOut := u.run(day1, "thv", "list")
	if !strings.Contains(errOut, noticeText) {
		t.Fatalf("no notice: %q", errOut)
	}
	u.run(day1, "thv", "run", canary, "--secret", canary)
	u.run(day1, "thv", "config", "get-registry")
	u.run(day1, "thv", "stop", "missing")
	u.run(day1, "thv", "list")
	if srv.sent() != "" {
		t.Fatal("something was sent on the first day")
	}
	start := time.Now()
	out, errOut := u.run([]string{"THV_TELEMETRY_NOW=2026-11-20T09:00:00Z"}, "thv", "list")
	elapsed := time.Since(start)
	if out != "NAME\tSTATUS\nfetch\trunning\n" || errOut != "" {
		t.Fatalf("delivering run: %q %q", out, errOut)
	}
	t.Logf("the delivering run took %v (it does not wait for the send)", elapsed)
	ledger := filepath.Join(u.home, ".local/state/thv/sent.jsonl")
	waitFor(t, "the ledger", func() bool { b, _ := os.ReadFile(ledger); return strings.Contains(string(b), `"result":"sent"`) })
	// The helper still tidies up after the ledger line (it holds send.lock
	// until it exits); the temp HOME is removed only after that.
	waitFor(t, "the helper's exit", func() bool { return lockFree(filepath.Join(u.home, ".local/state/thv/send.lock")) })
	r := srv.report(t, "thv")
	js, _ := json.Marshal(r)
	for _, want := range []string{`"list"`, `"run"`, `"config get-registry"`, `"stop"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("report lacks %s: %s", want, js)
		}
	}
	if !strings.Contains(srv.sent(), `"command":"list","outcome":"success","count":2`) {
		t.Errorf("wire lacks the list count: %s", srv.sent())
	}
	if !strings.Contains(srv.sent(), `"command":"stop","outcome":"failure","count":1`) {
		t.Errorf("wire lacks the failed stop: %s", srv.sent())
	}
	for p, content := range u.files() {
		if strings.Contains(content, canary) {
			t.Errorf("canary in %s", p)
		}
	}
	if strings.Contains(srv.sent(), canary) {
		t.Error("canary on the wire")
	}
	if b, _ := os.ReadFile(srv.store); bytes.Contains(b, []byte(canary)) {
		t.Error("canary in the store")
	}
	// Nothing more to send: a second run of the day spawns nothing.
	before := srv.sent()
	u.run([]string{"THV_TELEMETRY_NOW=2026-11-20T09:05:00Z"}, "thv", "list")
	time.Sleep(500 * time.Millisecond)
	if srv.sent() != before {
		t.Error("a second send happened")
	}
	out, _ = u.run(nil, "thv", "telemetry", "log")
	if !strings.Contains(out, "sent") {
		t.Errorf("telemetry log: %q", out)
	}
}

// The MCP-server-shaped host: tool calls counted, flushed on an interval
// while it runs, delivered under the injected instance id.
func TestMCPServerFlushesAndDeliversUnderItsInstanceID(t *testing.T) {
	srv := startServe(t)
	const instance = "5d1c9a4e-7b1f-4c2a-9e3d-0a1b2c3d4e5f"
	u := newUser(t, "MCPSERVER_TELEMETRY_ENDPOINT="+srv.url, "MCPSERVER_TELEMETRY_INSTANCE_ID="+instance, "MCPSERVER_TELEMETRY_FLUSH_INTERVAL=1")
	session := func(now string, calls int, wait func()) (string, string) {
		cmd := exec.Command(filepath.Join(bin, "mcpserver"))
		cmd.Env = append(append([]string{}, u.env...), "MCPSERVER_TELEMETRY_NOW="+now)
		in, _ := cmd.StdinPipe()
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(in, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"clientInfo":{"name":"Claude Code","version":"2.1.0"}}}`)
		for i := 0; i < calls; i++ {
			fmt.Fprintf(in, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`+"\n", i+1)
		}
		fmt.Fprintln(in, `{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"fail","arguments":{}}}`)
		fmt.Fprintln(in, `{"jsonrpc":"2.0","id":100,"method":"tools/call","params":{"name":"no-such-tool","arguments":{}}}`)
		wait()
		in.Close()
		cmd.Wait()
		return o.String(), e.String()
	}
	spool := filepath.Join(u.home, ".local/state/mcpserver/spool.jsonl")
	out, errOut := session("2026-11-19T10:00:00Z", 3, func() {
		waitFor(t, "an interval flush", func() bool { b, _ := os.ReadFile(spool); return len(b) > 0 })
	})
	if strings.Contains(out, noticeText) || !strings.Contains(errOut, noticeText) {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !json.Valid([]byte(l)) {
			t.Fatalf("stdout is not only protocol: %q", l)
		}
	}
	// The next day: the running server's interval flush starts the helper.
	ledger := filepath.Join(u.home, ".local/state/mcpserver/sent.jsonl")
	session("2026-11-20T10:00:00Z", 1, func() {
		waitFor(t, "delivery while running", func() bool { b, _ := os.ReadFile(ledger); return strings.Contains(string(b), `"result":"sent"`) })
	})
	wire := srv.sent()
	if !strings.Contains(wire, `"machine_id":"`+instance+`"`) {
		t.Errorf("not sent under the instance id: %s", wire)
	}
	if !strings.Contains(wire, `{"tool":"echo","outcome":"ok","count":3`) || !strings.Contains(wire, `{"tool":"fail","outcome":"tool_error","count":1`) || !strings.Contains(wire, `{"outcome":"protocol_error","count":1`) {
		t.Errorf("tool calls not on the wire: %s", wire)
	}
	if strings.Contains(wire, "no-such-tool") {
		t.Error("a client-supplied tool name was sent")
	}
	// RecordClient and SetFact: the client by schema name and major
	// version only, and the facts event, accepted by tally serve.
	if !strings.Contains(wire, `{"client":"claude-code","major":2,"count":`) || !strings.Contains(wire, `"protocol_version":"2025-06-18"`) || !strings.Contains(wire, `"declares_tools":true`) {
		t.Errorf("the client and facts are not on the wire: %s", wire)
	}
	if strings.Contains(wire, "2.1.0") || strings.Contains(wire, "Claude Code") {
		t.Error("the client's raw name or full version was sent")
	}
	r := srv.report(t, "mcpserver")
	js, _ := json.Marshal(r)
	if !strings.Contains(string(js), "echo") {
		t.Errorf("report lacks the tool calls: %s", js)
	}
	if _, err := os.Stat(filepath.Join(u.home, ".local/state/mcpserver/machine_id")); err == nil {
		t.Error("a machine id was minted despite the injected instance id")
	}
}

// A Go host and a Rust host of the same application name (here `tally`
// itself, opt-in) read each other's consent file and spool.
func TestSharesFilesWithTheRustLibrary(t *testing.T) {
	tallyBin := os.Getenv("TALLY_BIN")
	if tallyBin == "" {
		t.Fatal("TALLY_BIN must name the tally binary (cargo build --bin tally)")
	}
	u := newUser(t, "TALLY_TELEMETRY_TEST_SYSTEM_POLICY_FILE="+filepath.Join(t.TempDir(), "none.toml"))
	rust := func(extra []string, args ...string) string {
		cmd := exec.Command(tallyBin, args...)
		cmd.Env = append(append([]string{}, u.env...), extra...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tally %v: %v", args, err)
		}
		return string(out)
	}
	rustStatus := func() (bool, string) {
		var st struct {
			Enabled   bool   `json:"enabled"`
			DecidedBy string `json:"decided_by"`
		}
		if err := json.Unmarshal([]byte(rust(nil, "telemetry", "status", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		return st.Enabled, st.DecidedBy
	}
	goStatus := func() (bool, string) {
		out, _ := u.run(nil, "minihost", "tally", "--opt-in", "status")
		var st struct {
			Enabled   bool   `json:"enabled"`
			DecidedBy string `json:"decided_by"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("%v: %q", err, out)
		}
		return st.Enabled, st.DecidedBy
	}
	if on, by := rustStatus(); on || by != "default" {
		t.Fatalf("rust before: %v %s", on, by)
	}
	u.run(nil, "minihost", "tally", "--opt-in", "on")
	if on, by := rustStatus(); !on || by != "config" {
		t.Fatalf("rust after the Go host's on: %v %s", on, by)
	}
	rust(nil, "telemetry", "off")
	if on, by := goStatus(); on || by != "config" {
		t.Fatalf("go after the Rust host's off: %v %s", on, by)
	}
	rust(nil, "telemetry", "on")
	if on, by := goStatus(); !on || by != "config" {
		t.Fatalf("go after the Rust host's on: %v %s", on, by)
	}
	// Both record into the one spool on the same day...
	day1 := []string{"TALLY_TELEMETRY_NOW=2026-11-19T10:00:00Z"}
	u.run(day1, "minihost", "tally", "--opt-in", "record", "build")
	// (a report of a store that does not exist fails, and is counted so)
	failing := exec.Command(tallyBin, "report", "--db", filepath.Join(t.TempDir(), "none.sqlite3"), "--json")
	failing.Env = append(append([]string{}, u.env...), day1...)
	_ = failing.Run()
	u.run(day1, "minihost", "tally", "--opt-in", "record", "build")
	// ...and each sees the other's counts in the next day's batch.
	day2 := []string{"TALLY_TELEMETRY_NOW=2026-11-20T10:00:00Z"}
	goShow, _ := u.run(day2, "minihost", "tally", "--opt-in", "show")
	if !strings.Contains(goShow, `"command": "build"`) || !strings.Contains(goShow, `"command": "report"`) || !strings.Contains(goShow, `"count": 2`) || strings.Contains(goShow, `"dropped"`) {
		t.Errorf("the Go host's pending batch: %s", goShow)
	}
	rustShow := rust(day2, "telemetry", "show")
	if !strings.Contains(rustShow, "build") || !strings.Contains(rustShow, "report") {
		t.Errorf("the Rust host's pending batch: %s", rustShow)
	}
}

// A `telemetry …` run starts no delivery helper, as a Rust host's do not:
// with a completed day waiting, `thv telemetry status` sends nothing, and
// the next ordinary command delivers it.
func TestTelemetryCommandsStartNoHelper(t *testing.T) {
	srv := startServe(t)
	u := newUser(t, "THV_TELEMETRY_ENDPOINT="+srv.url)
	day1 := []string{"THV_TELEMETRY_NOW=2026-11-19T10:00:00Z"}
	day2 := []string{"THV_TELEMETRY_NOW=2026-11-20T09:00:00Z"}
	u.run(day1, "thv", "list")
	u.run(day1, "thv", "list")
	u.run(day2, "thv", "telemetry", "status")
	lock := filepath.Join(u.home, ".local/state/thv/send.lock")
	time.Sleep(500 * time.Millisecond)
	if srv.sent() != "" || !lockFree(lock) {
		t.Fatalf("a telemetry status run started a delivery: sent %q", srv.sent())
	}
	u.run(day2, "thv", "list")
	ledger := filepath.Join(u.home, ".local/state/thv/sent.jsonl")
	waitFor(t, "the ledger", func() bool { b, _ := os.ReadFile(ledger); return strings.Contains(string(b), `"result":"sent"`) })
	if !strings.Contains(srv.sent(), `"command":"list"`) {
		t.Fatalf("the next run did not deliver: %q", srv.sent())
	}
}
