package tally

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A "yes" stored under an older consent version: the notice said "What
// tally collects changed" inside a host that is not tally.
func TestNoticeAfterStaleYesNamesTheHostNotTally(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "telemetry.toml")
	if err := os.WriteFile(cfg, []byte("enabled = true\nconsent_version = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := resolveSettings(Options{Name: "mygo", EnvPrefix: "MYGO"}, env{}, Paths{ConfigFile: cfg})
	got := s.noticeText()
	if !strings.HasPrefix(got, "What mygo collects changed since you turned telemetry on.") || strings.Contains(got, "tally") {
		t.Fatalf("notice: %q", got)
	}
}
