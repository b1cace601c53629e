package tally

import (
	"fmt"
	"os"
)

// stderrReadable: stderr leads somewhere a person or a log can read it (a
// terminal, a file, a pipe, a socket), not /dev/null or a closed stderr.
func stderrReadable() bool {
	fi, err := os.Stderr.Stat()
	if err != nil {
		return false
	}
	m := fi.Mode()
	if m.IsRegular() || m&(os.ModeNamedPipe|os.ModeSocket) != 0 {
		return true
	}
	if m&os.ModeDevice != 0 {
		if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
			return false
		}
		return m&os.ModeCharDevice != 0
	}
	return false
}

// showNotice prints the one-line notice to stderr, once per process, and
// stores it as shown when someone could read it.
func (t *Telemetry) showNotice() {
	if t.noticeShown || !t.s.noticeDue() {
		return
	}
	t.noticeShown = true
	readable := stderrReadable()
	_, err := fmt.Fprintln(os.Stderr, t.s.noticeText())
	if readable && err == nil {
		_ = storeNoticeVersion(t.s.paths.ConfigFile)
	}
}
