package tally

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The administrator's file under the app's own name, as the Rust library
// reads it: it wins over the shared one of earlier versions, which is then
// named in a warning; the shared one still applies on its own.
func TestPolicyFileUnderTheAppsOwnNameWinsOverTheSharedOne(t *testing.T) {
	root := t.TempDir()
	own := filepath.Join(root, "demo", "telemetry.toml")
	shared := filepath.Join(root, "tally", "demo.toml")

	if f, ign := systemPolicyFile(root, "demo"); f != own || ign != "" {
		t.Fatalf("neither exists: got %q, ignored %q; want %q", f, ign, own)
	}
	for _, p := range []string{shared, own} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(shared, []byte("telemetry = \"off\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, ign := systemPolicyFile(root, "demo"); f != shared || ign != "" {
		t.Fatalf("only the shared one: got %q, ignored %q", f, ign)
	}
	if err := os.WriteFile(own, []byte("telemetry = \"on\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, ign := systemPolicyFile(root, "demo")
	if f != own || ign != shared {
		t.Fatalf("both: got %q, ignored %q", f, ign)
	}
	s := resolveSettings(Options{Name: "demo", EnvPrefix: "DEMO"}, env{}, Paths{PolicyFile: f, IgnoredPolicyFile: ign})
	warned := false
	for _, w := range s.warnings {
		warned = warned || strings.Contains(w, shared+" is not read")
	}
	if !warned {
		t.Fatalf("no warning names the ignored file: %q", s.warnings)
	}
}
