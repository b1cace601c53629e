package tally

import (
	"bytes"
	"path/filepath"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// spoolCap: the spool never grows beyond this many bytes.
const spoolCap = 256 * 1024

// compactAt: appends that would pass this size compact the spool first.
const compactAt = spoolCap * 3 / 4

// spoolLine is one line of spool.jsonl, field for field and in the order
// the Rust library writes it.
type spoolLine struct {
	V       int              `json:"v"`
	Day     string           `json:"day"`
	K       string           `json:"k"`
	Name    *string          `json:"name,omitempty"`
	Outcome *string          `json:"outcome,omitempty"`
	Class   *string          `json:"class,omitempty"`
	Major   *uint64          `json:"major,omitempty"`
	Kind    *string          `json:"kind,omitempty"`
	N       uint64           `json:"n"`
	Lat     *[Buckets]uint64 `json:"lat,omitempty"`
	Val     *string          `json:"val,omitempty"`
	// Value is a command's declared value (a Rust host's record_value):
	// its own key, part of what the line counts.
	Value *string `json:"value,omitempty"`
	B     *string `json:"b,omitempty"`
}

func sv(p *string) string {
	if p == nil {
		return "\x00"
	}
	return *p
}

func (l *spoolLine) key() string {
	m := "\x00"
	if l.Major != nil {
		m = strconv.FormatUint(*l.Major, 10)
	}
	// A command's declared value is part of what it counts.
	v := "\x00"
	if l.K == "command" {
		v = sv(l.Value)
	}
	return l.Day + "\x01" + l.K + "\x01" + sv(l.Name) + "\x01" + sv(l.Outcome) + "\x01" + sv(l.Class) + "\x01" + m + "\x01" + sv(l.Kind) + "\x01" + v + "\x01" + sv(l.B)
}

func (l *spoolLine) absorb(o spoolLine) {
	if l.K == "fact" {
		l.Val = o.Val
		return
	}
	l.N = satAdd(l.N, o.N)
	// A fresh array each time: the line's Lat may point into the caller's
	// lines, which a second merge of the same lines would count twice
	// (buckets that no longer add up to the count, which tally serve drops).
	switch {
	case l.Lat != nil && o.Lat != nil:
		sum := *l.Lat
		for i := range sum {
			sum[i] = satAdd(sum[i], o.Lat[i])
		}
		l.Lat = &sum
	case l.Lat == nil && o.Lat != nil:
		lat := *o.Lat
		l.Lat = &lat
	}
}

func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

// decodeLine reads one spool line as the Rust library's serde reads it:
// unknown fields are ignored, a field of the wrong type is an error.
func decodeLine(raw []byte) (spoolLine, error) {
	var l spoolLine
	v, err := parseJSON(raw)
	if err != nil || v.kind != 'o' {
		return l, errJSON
	}
	var e [8]error
	var vv, n *uint64
	var day, k *string
	vv, e[0] = v.optUint("v")
	n, e[1] = v.optUint("n")
	day, e[2] = v.optStr("day")
	k, e[3] = v.optStr("k")
	l.Name, e[4] = v.optStr("name")
	l.Outcome, e[5] = v.optStr("outcome")
	l.Class, e[6] = v.optStr("class")
	l.Major, e[7] = v.optUint("major")
	for _, x := range e {
		if x != nil {
			return l, x
		}
	}
	if vv == nil || n == nil || day == nil || k == nil || *vv > 1<<32-1 {
		return l, errJSON
	}
	l.V, l.N, l.Day, l.K = int(*vv), *n, *day, *k
	if l.Kind, err = v.optStr("kind"); err != nil {
		return l, err
	}
	if l.Val, err = v.optStr("val"); err != nil {
		return l, err
	}
	// Only a command has a value; on another line the key is ignored, as
	// the Rust library ignores it.
	if l.Value, err = v.optStr("value"); err != nil {
		return l, err
	}
	if l.K != "command" {
		l.Value = nil
	}
	if l.B, err = v.optStr("b"); err != nil {
		return l, err
	}
	if f := v.field("lat"); f != nil {
		if f.kind != 'a' || len(f.arr) != Buckets {
			return l, errJSON
		}
		var lat [Buckets]uint64
		for i, x := range f.arr {
			if x.kind != 'n' {
				return l, errJSON
			}
			if lat[i], err = strconv.ParseUint(x.str, 10, 64); err != nil {
				return l, errJSON
			}
		}
		l.Lat = &lat
	}
	return l, nil
}

func (l *spoolLine) valid() bool {
	if l.V < 1 || l.V > SchemaVersion || !validDay(l.Day) {
		return false
	}
	if (l.Class != nil && !errorClassSet(*l.Class)) || (l.Kind != nil && !lifecycleSet(*l.Kind)) {
		return false
	}
	switch l.K {
	case "command":
		return l.Name != nil && (l.Outcome == nil || commandOutcomeSet(*l.Outcome))
	case "client", "fact":
		return l.Name != nil
	case "tool":
		return l.Outcome != nil && toolOutcomeSet(*l.Outcome)
	case "lifecycle":
		return l.Kind != nil
	case "dropped":
		return true
	}
	return false
}

// encodeLines writes lines the way serde_json writes them in the Rust
// library, without reflection (this runs at every command's exit).
func encodeLines(lines []spoolLine) []byte {
	b := make([]byte, 0, 128*len(lines))
	for i := range lines {
		b = lines[i].appendJSON(b)
		b = append(b, '\n')
	}
	return b
}

func (l *spoolLine) appendJSON(b []byte) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(l.V), 10)
	b = append(b, `,"day":`...)
	b = appendJSONString(b, l.Day)
	b = append(b, `,"k":`...)
	b = appendJSONString(b, l.K)
	str := func(b []byte, key string, v *string) []byte {
		if v == nil {
			return b
		}
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, '"', ':')
		return appendJSONString(b, *v)
	}
	b = str(b, "name", l.Name)
	b = str(b, "outcome", l.Outcome)
	b = str(b, "class", l.Class)
	if l.Major != nil {
		b = append(b, `,"major":`...)
		b = strconv.AppendUint(b, *l.Major, 10)
	}
	b = str(b, "kind", l.Kind)
	b = append(b, `,"n":`...)
	b = strconv.AppendUint(b, l.N, 10)
	if l.Lat != nil {
		b = append(b, `,"lat":[`...)
		for i, x := range l.Lat {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, x, 10)
		}
		b = append(b, ']')
	}
	b = str(b, "val", l.Val)
	b = str(b, "value", l.Value)
	b = str(b, "b", l.B)
	return append(b, '}')
}

// appendJSONString quotes s as serde_json does: " and \\ escaped, control
// characters as \n-style or \u00xx escapes, everything else as is
// (invalid UTF-8 becomes U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, "\ufffd"...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"':
			b = append(b, '\\', '"')
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}

// parseSpool parses spool bytes; a bad line is counted, never fatal.
func parseSpool(b []byte) (lines []spoolLine, bad uint64) {
	for _, raw := range bytes.Split(b, []byte{'\n'}) {
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		l, err := decodeLine(raw)
		if err != nil || !l.valid() {
			bad++
			continue
		}
		lines = append(lines, l)
	}
	return lines, bad
}

// mergeLines merges lines with equal keys, keeping first-seen order.
func mergeLines(lines []spoolLine) []spoolLine {
	idx := map[string]int{}
	out := make([]spoolLine, 0, len(lines))
	for _, l := range lines {
		k := l.key()
		if i, ok := idx[k]; ok {
			out[i].absorb(l)
			continue
		}
		idx[k] = len(out)
		out = append(out, l)
	}
	return out
}

func sortLines(lines []spoolLine) {
	sort.Slice(lines, func(i, j int) bool { return lines[i].key() < lines[j].key() })
}

func newLine(day, k string, n uint64) spoolLine {
	return spoolLine{V: SchemaVersion, Day: day, K: k, N: n}
}

type spool struct{ dir string }

func (s spool) path() string { return filepath.Join(s.dir, fileSpool) }

// lock takes the spool lock (spool.lock), waiting at most 2 s.
func (s spool) lock() (func(), error) {
	if err := ensurePrivateDir(s.dir); err != nil {
		return nil, err
	}
	return lockPath(filepath.Join(s.dir, fileSpoolLock), 2*time.Second)
}

// read reads at most spoolCap bytes; what lies beyond counts as dropped.
func (s spool) read() ([]spoolLine, uint64, error) {
	b, st, err := readBounded(s.path(), spoolCap)
	if err != nil || b == nil {
		return nil, 0, err
	}
	lines, bad := parseSpool(b)
	if st.size > spoolCap {
		bad++
	}
	return lines, bad, nil
}

func (s spool) rewrite(lines []spoolLine) error {
	if len(lines) == 0 {
		_, err := removeIfExists(s.path())
		return err
	}
	return writeAtomic(s.path(), encodeLines(lines), false)
}

// fit drops rows until the encoding is within budget: today's smallest
// counts first, then the oldest completed days; the loss is counted in a
// dropped line for today.
func fit(lines []spoolLine, today string, budget int) []spoolLine {
	total := len(encodeLines(lines))
	if total <= budget {
		return lines
	}
	budget -= 96
	var done, fresh []spoolLine
	for _, l := range lines {
		if l.Day < today || l.K == "dropped" || l.B != nil {
			done = append(done, l)
		} else {
			fresh = append(fresh, l)
		}
	}
	size := func(l spoolLine) int { return len(encodeLines([]spoolLine{l})) }
	var dropped uint64
	sort.SliceStable(fresh, func(i, j int) bool { return fresh[i].N > fresh[j].N })
	for total > budget && len(fresh) > 0 {
		total -= size(fresh[len(fresh)-1])
		fresh = fresh[:len(fresh)-1]
		dropped++
	}
	sort.SliceStable(done, func(i, j int) bool { return done[i].Day < done[j].Day })
	for total > budget {
		i := 0
		for i < len(done) && done[i].K == "dropped" {
			i++
		}
		if i == len(done) {
			break
		}
		total -= size(done[i])
		done = append(done[:i], done[i+1:]...)
		dropped++
	}
	out := append(done, fresh...)
	if dropped > 0 {
		out = mergeLines(append(out, newLine(today, "dropped", dropped)))
	}
	return out
}

// appendLines appends with one locked O_APPEND write, compacting first
// when the spool would pass compactAt. The file never exceeds spoolCap.
func (s spool) appendLines(lines []spoolLine, today string) error {
	_, err := s.appendLinesHead(lines, today, false)
	return err
}

// headBytes is how much of the spool's head headDue reads; Close first
// reads firstLineBytes, which holds any line tally writes, and reads on
// only when there is no line end in it.
const (
	headBytes      = 4096
	firstLineBytes = 512
)

// appendLinesHead is appendLines; with wantHead it also says whether the
// head is due (headDue), read through the descriptor it appended with.
// Close asks, so a run that sends nothing opens the spool once.
func (s spool) appendLinesHead(lines []spoolLine, today string, wantHead bool) (due bool, err error) {
	if len(lines) == 0 {
		return wantHead && s.headDue(today), nil
	}
	release, err := s.lock()
	if err != nil {
		return false, err
	}
	defer release()
	b := encodeLines(lines)
	head := 0
	if wantHead {
		head = firstLineBytes
	}
	full, first, err := appendCapped(s.path(), b, compactAt, head)
	if err != nil {
		return false, err
	}
	if full {
		all, bad, err := s.read()
		if err != nil {
			return false, err
		}
		if bad > 0 {
			all = append(all, newLine(today, "dropped", bad))
		}
		if err := s.rewrite(fit(mergeLines(append(all, lines...)), today, compactAt/2)); err != nil {
			return false, err
		}
		return wantHead && s.headDue(today), nil
	}
	if wantHead && len(first) == firstLineBytes && bytes.IndexByte(first, '\n') < 0 {
		return s.headDue(today), nil
	}
	return wantHead && headBytesDue(first, today), nil
}

// headDue reads at most 4 KB: is the first line claimed or of a day
// before today? Lines are in time order, so the first is the oldest.
func (s spool) headDue(today string) bool {
	b, _, err := readBounded(s.path(), headBytes)
	if err != nil {
		return false
	}
	return headBytesDue(b, today)
}

// headBytesDue is headDue on the spool's first bytes.
func headBytesDue(b []byte, today string) bool {
	if len(b) == 0 {
		return false
	}
	first := b
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		first = b[:i]
	}
	// tally writes its lines in one field order, so the head can be read
	// without a JSON decoder (a `,"b":"` cannot occur inside a string).
	const head = `{"v":2,"day":"`
	if len(first) > len(head)+11 && string(first[:len(head)]) == head && first[len(head)+10] == '"' {
		day := string(first[len(head) : len(head)+10])
		if validDay(day) {
			return bytes.Contains(first, []byte(`,"b":"`)) || day < today
		}
	}
	l, err := decodeLine(first)
	if err != nil || l.V != SchemaVersion {
		return len(first) > 0
	}
	return l.B != nil || l.Day < today
}

// outgoing: lines the next send takes (the claimed ones first), a batch
// at most max lines of completed days, all of the first one's rotation
// period (period names a day's period; nil: no rotation).
func peekOutgoing(lines []spoolLine, today string, max int, period func(day string) string) (string, []spoolLine) {
	for _, l := range lines {
		if l.B != nil {
			id := *l.B
			var out []spoolLine
			for _, m := range lines {
				if m.B != nil && *m.B == id {
					out = append(out, m)
				}
			}
			return id, out
		}
	}
	var out []spoolLine
	for _, l := range lines {
		if l.Day < today {
			out = append(out, l)
		}
	}
	out = mergeLines(out)
	var taken []spoolLine
	for _, i := range nextBatch(out, today, max, period) {
		taken = append(taken, out[i])
	}
	return "", taken
}

// nextBatch returns the indices of the unclaimed lines the next batch
// takes: at most max of completed days, all of the first one's period, so
// a batch never joins two periods of a rotating machine id (the Rust
// spool's next_batch).
func nextBatch(lines []spoolLine, today string, max int, period func(day string) string) []int {
	var taken []int
	first := ""
	for i, l := range lines {
		if len(taken) >= max {
			break
		}
		if l.B != nil || !(l.Day < today) {
			continue
		}
		p := ""
		if period != nil {
			p = period(l.Day)
		}
		if len(taken) == 0 {
			first = p
		} else if p != first {
			continue
		}
		taken = append(taken, i)
	}
	return taken
}

// claim tags up to max outgoing lines of one rotation period (see
// nextBatch) with a new batch id in one atomic rewrite, or returns the
// lines already claimed (caller holds the lock).
func (s spool) claim(today string, max int, period func(day string) string) (string, []spoolLine, error) {
	lines, bad, err := s.read()
	if err != nil {
		return "", nil, err
	}
	if bad > 0 {
		lines = append(lines, newLine(today, "dropped", bad))
	}
	for _, l := range lines {
		if l.B != nil {
			id, claimed := peekOutgoing(lines, today, max, period)
			if bad > 0 {
				err = s.rewrite(mergeLines(lines))
			}
			return id, claimed, err
		}
	}
	lines = mergeLines(lines)
	id := newUUID()
	var taken []spoolLine
	for _, i := range nextBatch(lines, today, max, period) {
		lines[i].B = strp(id)
		taken = append(taken, lines[i])
	}
	if len(taken) == 0 {
		if bad > 0 {
			return "", nil, s.rewrite(lines)
		}
		return "", nil, nil
	}
	return id, taken, s.rewrite(lines)
}

// release removes the lines claimed by id (caller holds the lock).
func (s spool) release(id string) error {
	lines, _, err := s.read()
	if err != nil {
		return err
	}
	kept := lines[:0]
	for _, l := range lines {
		if l.B == nil || *l.B != id {
			kept = append(kept, l)
		}
	}
	return s.rewrite(kept)
}
