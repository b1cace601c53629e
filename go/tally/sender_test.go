package tally

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A failing receiver (a real HTTP server on 127.0.0.1): the backoff lands
// on disk, background sends wait for it, the claimed batch is resent under
// the same id, and a success clears everything.
func TestBackoffOnDiskAndResendUnderTheSameBatchID(t *testing.T) {
	var mu sync.Mutex
	status := http.StatusServiceUnavailable
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, string(b))
		if status != http.StatusNoContent {
			w.Header().Set("Retry-After", "7200")
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	dir := t.TempDir()
	p := Paths{ConfigFile: filepath.Join(dir, "c", ConfigFileName), StateDir: filepath.Join(dir, "s"), PolicyFile: filepath.Join(dir, "p")}
	os.MkdirAll(filepath.Dir(p.ConfigFile), 0o700)
	os.WriteFile(p.ConfigFile, []byte("enabled = true\nconsent_version = 2\n"), 0o600)
	os.MkdirAll(p.StateDir, 0o700)
	os.WriteFile(filepath.Join(p.StateDir, fileSpool), []byte(`{"v":2,"day":"2026-11-19","k":"command","name":"build","outcome":"success","n":3}`+"\n"), 0o600)
	s := resolveSettings(Options{Name: "demo", EnvPrefix: "DEMO", Version: "1", Command: "telemetry"}, envFrom([]string{"DEMO_TELEMETRY_ENDPOINT=" + srv.URL + BatchPath}), p)
	s.clock = clockFromOverride("2026-11-20T10:00:00Z")
	d := stateDir(p.StateDir)

	if _, err := s.send(context.Background(), true, nil); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("first send: %v", err)
	}
	b := d.readBackoff()
	if b == nil || b.Until != s.clock.now().Unix()+7200 || b.Attempt {
		t.Fatalf("backoff: %+v", b)
	}
	if !strings.Contains(d.lastError(), "503") {
		t.Fatalf("last error: %q", d.lastError())
	}
	res, err := s.send(context.Background(), true, nil)
	if err != nil || !strings.HasPrefix(res.Skipped, "backing off") || len(bodies) != 1 {
		t.Fatalf("second background send: %+v %v (%d posts)", res, err, len(bodies))
	}
	mu.Lock()
	status = http.StatusNoContent
	mu.Unlock()
	res, err = s.send(context.Background(), false, nil)
	if err != nil || len(res.Sent) != 1 || res.Sent[0].Result != "sent" {
		t.Fatalf("foreground send: %+v %v", res, err)
	}
	id := func(body string) string { i := strings.Index(body, `"batch_id":"`); return body[i+12 : i+48] }
	if len(bodies) != 2 || id(bodies[0]) != id(bodies[1]) {
		t.Fatalf("not resent under the same batch id: %v", bodies)
	}
	if _, err := os.Stat(filepath.Join(p.StateDir, fileSpool)); !os.IsNotExist(err) {
		t.Error("the spool was not emptied")
	}
	if d.readBackoff() != nil || d.lastError() != "" {
		t.Error("backoff or last error left behind")
	}
	if l := d.ledger(); len(l) != 1 || l[0].Status != 204 || !strings.HasPrefix(l[0].Endpoint, "http://127.0.0.1:") {
		t.Errorf("ledger: %+v", l)
	}
}

// A hostile consent file (a FIFO, a huge file) fails closed without hanging
// or reading it whole.
func TestHostileConsentFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.toml")
	if err := mkfifo(fifo); err == nil {
		if c := LoadConfig(fifo); c.Kind != ConfigBroken {
			t.Errorf("a FIFO: %+v", c)
		}
	}
	huge := filepath.Join(dir, "huge.toml")
	os.WriteFile(huge, []byte(strings.Repeat("# x\n", 1<<19)+"enabled = false\n"), 0o600)
	if c := LoadConfig(huge); c.Kind == ConfigLoaded && c.User.Enabled != nil {
		t.Errorf("read past the bound: %+v", c)
	}
}
