package tally

import (
	"sync"
	"sync/atomic"
	"time"
)

// maxNames bounds the distinct command and tool names kept in memory; the
// rest is counted as dropped.
const maxNames = 256

type stats struct {
	count uint64
	lat   [Buckets]uint64
}

// toolStats holds one tool name's counts, one stats per outcome.
type toolStats [numToolOutcomes]stats

type recorder struct {
	enabled atomic.Bool
	mu      sync.Mutex
	// commands by path, one stats per outcome.
	commands map[string]*[numCommandOutcomes]stats
	tools    map[string]*toolStats
	// The last tool name recorded, so a run of calls to one tool skips
	// the map.
	lastTool  string
	lastStats *toolStats
	overflow  uint64
	// MCP clients by schema name and major version, and the deployment
	// facts set today (the last value of each wins).
	clients map[clientKey]uint64
	facts   map[string]string
	// The open run: its path, its stats (nil until it is counted once, or
	// when the name table was full), and when it started, as an offset
	// from origin.
	running      string
	runningStats *[numCommandOutcomes]stats
	started      time.Duration
	// origin carries the monotonic clock reading taken in New; offsets
	// from it need one clock read (time.Since), where time.Now takes two
	// (wall and monotonic). A clock read is most of a command record's
	// cost: about 50 ns in a VM even from C.
	origin time.Time
}

func newRecorder() *recorder {
	return &recorder{commands: map[string]*[numCommandOutcomes]stats{}, tools: map[string]*toolStats{}, origin: time.Now()}
}

// statsFor returns path's stats, adding them when the table has room; nil
// when it is full.
func (r *recorder) statsFor(path string) *[numCommandOutcomes]stats {
	s := r.commands[path]
	if s == nil {
		if len(r.commands) >= maxNames {
			return nil
		}
		s = new([numCommandOutcomes]stats)
		r.commands[path] = s
	}
	return s
}

func (r *recorder) countRunIn(s *[numCommandOutcomes]stats, o CommandOutcome, d time.Duration) {
	if s == nil {
		r.overflow++
		return
	}
	if o >= numCommandOutcomes {
		o = Unknown
	}
	s[o].count++
	s[o].lat[DurationBucket(d)]++
}

func (r *recorder) command(path string) {
	if !r.enabled.Load() {
		return
	}
	now := time.Since(r.origin)
	r.mu.Lock()
	if r.running != "" {
		// A run still open (a REPL, a benchmark) ends here, unknown.
		r.countRunIn(r.runningStats, Unknown, now-r.started)
		if r.running != path {
			r.running, r.runningStats = path, r.statsFor(path)
		}
	} else {
		r.running, r.runningStats = path, r.statsFor(path)
	}
	r.started = now
	r.mu.Unlock()
}

func (r *recorder) finish(o CommandOutcome) {
	if !r.enabled.Load() {
		return
	}
	now := time.Since(r.origin)
	r.mu.Lock()
	if r.running != "" {
		r.countRunIn(r.runningStats, o, now-r.started)
		r.running, r.runningStats = "", nil
	}
	r.mu.Unlock()
}

func (r *recorder) tool(name string, o ToolOutcome, d time.Duration) {
	if !r.enabled.Load() {
		return
	}
	if o >= numToolOutcomes {
		o = ToolOK
	}
	b := LatencyBucket(d)
	r.mu.Lock()
	s := r.lastStats
	if s == nil || r.lastTool != name {
		s = r.tools[name]
		if s == nil {
			if len(r.tools) >= maxNames {
				r.overflow++
				r.mu.Unlock()
				return
			}
			s = new(toolStats)
			r.tools[name] = s
		}
		r.lastTool, r.lastStats = name, s
	}
	s[o].count++
	s[o].lat[b]++
	r.mu.Unlock()
}

// drain takes the counts out as spool lines for day; an open run is
// counted as unknown when closeRunning is set.
func (r *recorder) drain(day string, closeRunning bool) []spoolLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	if closeRunning && r.running != "" {
		if r.enabled.Load() {
			r.countRunIn(r.runningStats, Unknown, time.Since(r.origin)-r.started)
		}
		r.running, r.runningStats = "", nil
	}
	var out []spoolLine
	for path, s := range r.commands {
		for o := CommandOutcome(0); o < numCommandOutcomes; o++ {
			if s[o].count == 0 {
				continue
			}
			lat := s[o].lat
			out = append(out, spoolLine{V: SchemaVersion, Day: day, K: "command", Name: strp(path), Outcome: strp(o.String()), N: s[o].count, Lat: &lat})
		}
	}
	for tool, ts := range r.tools {
		var name *string
		if tool != "" {
			name = strp(tool)
		}
		for o := ToolOutcome(0); o < numToolOutcomes; o++ {
			if ts[o].count == 0 {
				continue
			}
			lat := ts[o].lat
			out = append(out, spoolLine{V: SchemaVersion, Day: day, K: "tool", Name: name, Outcome: strp(o.String()), N: ts[o].count, Lat: &lat})
		}
	}
	for k, n := range r.clients {
		l := spoolLine{V: SchemaVersion, Day: day, K: "client", Name: strp(k.name), N: n}
		if k.hasMajor {
			m := k.major
			l.Major = &m
		}
		out = append(out, l)
	}
	for name, v := range r.facts {
		out = append(out, spoolLine{V: SchemaVersion, Day: day, K: "fact", Name: strp(name), N: 1, Val: strp(v)})
	}
	if r.overflow > 0 {
		out = append(out, spoolLine{V: SchemaVersion, Day: day, K: "dropped", N: r.overflow})
	}
	r.commands = map[string]*[numCommandOutcomes]stats{}
	r.tools = map[string]*toolStats{}
	r.lastTool, r.lastStats = "", nil
	r.clients, r.facts = nil, nil
	if r.running != "" {
		// The open run's stats went out with the old table.
		r.runningStats = r.statsFor(r.running)
	}
	r.overflow = 0
	sortLines(out)
	return out
}

// clientKey is an MCP client as counted: its schema name and, when it
// has one, its major version.
type clientKey struct {
	name     string
	major    uint64
	hasMajor bool
}

func (r *recorder) client(name, version string) {
	if !r.enabled.Load() {
		return
	}
	k := clientKey{name: ClientName(name)}
	k.major, k.hasMajor = MajorVersion(version)
	r.mu.Lock()
	if r.clients == nil {
		r.clients = map[clientKey]uint64{}
	}
	if _, ok := r.clients[k]; !ok && len(r.clients) >= maxNames {
		r.overflow++
	} else {
		r.clients[k]++
	}
	r.mu.Unlock()
}

func (r *recorder) fact(name, value string) bool {
	if !setFact(&factsEvent{}, name, value) {
		return false
	}
	if r.enabled.Load() {
		r.mu.Lock()
		if r.facts == nil {
			r.facts = map[string]string{}
		}
		r.facts[name] = value
		r.mu.Unlock()
	}
	return true
}

func strp(s string) *string { return &s }
