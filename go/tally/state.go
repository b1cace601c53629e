package tally

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Backoff after a failed send: 1 h, doubling to 24 h.
const (
	backoffMin = 3600
	backoffMax = 24 * 3600
	ledgerMax  = 100
)

type backoff struct {
	Until   int64  `json:"until"`
	Delay   uint64 `json:"delay"`
	Attempt bool   `json:"attempt,omitempty"`
}

// LedgerEntry is one entry of sent.jsonl: a send that reached the receiver.
type LedgerEntry struct {
	// At is when (RFC 3339).
	At string `json:"at"`
	// BatchID is the batch id.
	BatchID string `json:"batch_id"`
	// Result is sent, rejected or duplicate.
	Result string `json:"result"`
	// Status is the HTTP status.
	Status int `json:"status"`
	// Bytes is the body size.
	Bytes int `json:"bytes"`
	// Events is the number of events.
	Events int `json:"events"`
	// Endpoint is the endpoint, without credentials.
	Endpoint string `json:"endpoint"`
}

type stateDir string

func (d stateDir) file(name string) string { return filepath.Join(string(d), name) }

func (e LedgerEntry) encode() []byte {
	return (&jw{}).str("at", e.At).str("batch_id", e.BatchID).str("result", e.Result).int("status", int64(e.Status)).
		int("bytes", int64(e.Bytes)).int("events", int64(e.Events)).str("endpoint", e.Endpoint).done()
}

func (d stateDir) readMachineID() string {
	b, err := readOptional(d.file(fileMachineID))
	if err != nil || b == nil {
		return ""
	}
	id, ok := parseUUID(string(b))
	if !ok {
		return ""
	}
	return id
}

func (d stateDir) ensureMachineID() (string, error) {
	if id := d.readMachineID(); id != "" {
		return id, nil
	}
	if err := ensurePrivateDir(string(d)); err != nil {
		return "", err
	}
	id := newUUID()
	return id, writeAtomic(d.file(fileMachineID), []byte(id+"\n"), true)
}

// currentID returns the machine id for period, replacing it with a fresh
// one when the stored period (machine_id_period) differs; "" never rotates.
// The replaced id is kept in machine_id_past for its days still in the
// spool: a day is always sent under its own period's id.
func (d stateDir) currentID(period string) (string, error) {
	if period == "" {
		return d.ensureMachineID()
	}
	b, _ := readOptional(d.file(fileMachineIDPeriod))
	stored := strings.TrimSpace(string(b))
	if stored != period || d.readMachineID() == "" {
		if old := d.readMachineID(); b != nil && old != "" {
			if err := d.rememberPast(stored, old); err != nil {
				return "", err
			}
		}
		if _, err := removeIfExists(d.file(fileMachineID)); err != nil {
			return "", err
		}
		id, err := d.ensureMachineID()
		if err != nil {
			return "", err
		}
		return id, writeAtomic(d.file(fileMachineIDPeriod), []byte(period+"\n"), true)
	}
	return d.ensureMachineID()
}

// maxPast bounds machine_id_past: more periods than the days a batch may
// be late (the server's window), whatever the period.
const maxPast = 64

// idForDay returns the id the lines of a day in period dayPeriod are sent
// under, today being in period now: the current id when the periods are
// the same (or the id never rotates), else that period's kept id, or a
// fresh random one minted and kept for it, so the period has exactly one.
// Never the id of the period a send happens in: that would link two
// periods and count the machine twice.
func (d stateDir) idForDay(dayPeriod, now string) (string, error) {
	current, err := d.currentID(now)
	if err != nil || dayPeriod == "" || now == "" || dayPeriod == now {
		return current, err
	}
	for _, pi := range d.readPast() {
		if pi[0] == dayPeriod {
			return pi[1], nil
		}
	}
	id := newUUID()
	return id, d.rememberPast(dayPeriod, id)
}

// readPast reads machine_id_past: "<period> <id>" per line.
func (d stateDir) readPast() [][2]string {
	b, _ := readOptional(d.file(fileMachineIDPast))
	var out [][2]string
	for _, line := range strings.Split(string(b), "\n") {
		p, id, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if id, ok := parseUUID(id); ok && len(out) < maxPast {
			out = append(out, [2]string{p, id})
		}
	}
	return out
}

func (d stateDir) rememberPast(period, id string) error {
	var past [][2]string
	for _, pi := range d.readPast() {
		if pi[0] != period {
			past = append(past, pi)
		}
	}
	past = append(past, [2]string{period, id})
	if len(past) > maxPast {
		past = past[len(past)-maxPast:]
	}
	var text strings.Builder
	for _, pi := range past {
		text.WriteString(pi[0] + " " + pi[1] + "\n")
	}
	return writeAtomic(d.file(fileMachineIDPast), []byte(text.String()), true)
}

func (d stateDir) readBackoff() *backoff {
	b, err := readOptional(d.file(fileBackoff))
	if err != nil || b == nil {
		return nil
	}
	v, err := parseJSON(b)
	if err != nil || v.kind != 'o' || v.field("until") == nil {
		return nil
	}
	until, _ := v.optUint("delay")
	bo := backoff{Until: v.getInt("until"), Attempt: v.getBool("attempt")}
	if until != nil {
		bo.Delay = *until
	}
	return &bo
}

func (d stateDir) nextDelay() uint64 {
	b := d.readBackoff()
	if b == nil {
		return backoffMin
	}
	if b.Attempt {
		return b.Delay
	}
	n := b.Delay * 2
	if n < backoffMin {
		n = backoffMin
	}
	if n > backoffMax {
		n = backoffMax
	}
	return n
}

func (d stateDir) writeBackoff(b backoff) {
	if ensurePrivateDir(string(d)) == nil {
		w := (&jw{}).int("until", b.Until).uint("delay", b.Delay)
		if b.Attempt {
			w.bool("attempt", true)
		}
		_ = writeAtomic(d.file(fileBackoff), w.done(), false)
	}
}

func (d stateDir) recordFailure(now int64, retryAfter uint64) {
	delay := d.nextDelay()
	if retryAfter > backoffMax {
		retryAfter = backoffMax
	}
	if retryAfter > delay {
		delay = retryAfter
	}
	d.writeBackoff(backoff{Until: now + int64(delay), Delay: delay})
}

func (d stateDir) beginAttempt(now int64) {
	delay := d.nextDelay()
	d.writeBackoff(backoff{Until: now + int64(delay), Delay: delay, Attempt: true})
}

func (d stateDir) endAttempt() {
	if b := d.readBackoff(); b != nil && b.Attempt {
		_, _ = removeIfExists(d.file(fileBackoff))
	}
}

func (d stateDir) ledgerAppend(e LedgerEntry) {
	line := e.encode()
	if appendFile(d.file(fileLedger), append(line, '\n')) != nil {
		return
	}
	if entries := d.ledger(); len(entries) > 2*ledgerMax {
		var buf bytes.Buffer
		for _, e := range entries[len(entries)-ledgerMax:] {
			buf.Write(e.encode())
			buf.WriteByte('\n')
		}
		_ = writeAtomic(d.file(fileLedger), buf.Bytes(), false)
	}
}

func (d stateDir) ledger() []LedgerEntry {
	b, err := readOptional(d.file(fileLedger))
	if err != nil {
		return nil
	}
	var out []LedgerEntry
	for _, l := range bytes.Split(b, []byte{'\n'}) {
		v, err := parseJSON(l)
		if err != nil || v.kind != 'o' {
			continue
		}
		out = append(out, LedgerEntry{At: v.getStr("at"), BatchID: v.getStr("batch_id"), Result: v.getStr("result"),
			Status: int(v.getInt("status")), Bytes: int(v.getInt("bytes")), Events: int(v.getInt("events")), Endpoint: v.getStr("endpoint")})
	}
	return out
}

func (d stateDir) noteError(at, msg string) {
	if ensurePrivateDir(string(d)) == nil {
		_ = writeAtomic(d.file(fileLastError), []byte(at+" "+msg+"\n"), false)
	}
}

func (d stateDir) lastError() string {
	b, _ := readOptional(d.file(fileLastError))
	return strings.TrimSpace(string(b))
}

// deleteAll removes every file tally keeps in the state directory, and the
// directory when it is left empty.
func (d stateDir) deleteAll() {
	for _, f := range stateFiles {
		_, _ = removeIfExists(d.file(f))
	}
	if entries, err := os.ReadDir(string(d)); err == nil {
		for _, e := range entries {
			if n := e.Name(); strings.HasPrefix(n, ".") && strings.HasSuffix(n, ".tmp") {
				_, _ = removeIfExists(d.file(n))
			}
		}
	}
	_ = os.Remove(string(d))
}

// noteVersion remembers the version and reports an upgrade when it went up.
func (d stateDir) noteVersion(version string) bool {
	b, _ := readOptional(d.file(fileLastVersion))
	last := strings.TrimSpace(string(b))
	if last == version || version == "" {
		return false
	}
	if ensurePrivateDir(string(d)) != nil || writeAtomic(d.file(fileLastVersion), []byte(version+"\n"), false) != nil {
		return false
	}
	return last != "" && newerVersion(version, last)
}

func newerVersion(a, b string) bool {
	nums := func(v string) []uint64 {
		if i := strings.IndexAny(v, "-+"); i >= 0 {
			v = v[:i]
		}
		var out []uint64
		for _, p := range strings.Split(v, ".") {
			n, err := strconv.ParseUint(p, 10, 64)
			if err != nil {
				return nil
			}
			out = append(out, n)
		}
		return out
	}
	x, y := nums(a), nums(b)
	if x != nil && y != nil {
		for i := 0; i < len(x) || i < len(y); i++ {
			var p, q uint64
			if i < len(x) {
				p = x[i]
			}
			if i < len(y) {
				q = y[i]
			}
			if p != q {
				return p > q
			}
		}
		if len(x) != len(y) {
			return len(x) > len(y)
		}
	}
	return a != b
}
