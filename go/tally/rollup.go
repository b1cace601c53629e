package tally

import "sort"

// Envelope is what every batch carries, as `tally serve` expects it.
type Envelope struct {
	App        string `json:"app"`         // the application name
	AppVersion string `json:"app_version"` // its version
	OS         string `json:"os"`          // linux, macos, windows, ...
	Arch       string `json:"arch"`        // x86_64, aarch64, ...
	CI         bool   `json:"ci"`          // whether CI was detected
	Schema     int    `json:"schema"`      // SchemaVersion
	MachineID  string `json:"machine_id"`  // the random machine id, or the injected instance id
	BatchID    string `json:"batch_id"`    // random per batch (idempotency key)
}

// batch is one envelope and its events (each already encoded).
type batch struct {
	envelope Envelope
	events   [][]byte
}

// encode returns the batch as the wire JSON `tally serve` accepts.
func (b *batch) encode() []byte {
	e := b.envelope
	env := (&jw{}).str("app", e.App).str("app_version", e.AppVersion).str("os", e.OS).str("arch", e.Arch).
		bool("ci", e.CI).int("schema", int64(e.Schema)).str("machine_id", e.MachineID).str("batch_id", e.BatchID).done()
	return (&jw{}).raw("envelope", env).raw("events", jarray(b.events)).done()
}

type commandCount struct {
	Command  string           `json:"command"`
	Value    *string          `json:"value,omitempty"`
	Outcome  string           `json:"outcome,omitempty"`
	Count    uint64           `json:"count"`
	Duration *[Buckets]uint64 `json:"duration,omitempty"`
}

type toolCallCount struct {
	Tool       *string         `json:"tool,omitempty"`
	Outcome    string          `json:"outcome"`
	ErrorClass *string         `json:"error_class,omitempty"`
	Count      uint64          `json:"count"`
	Latency    [Buckets]uint64 `json:"latency"`
}

type clientCount struct {
	Client string  `json:"client"`
	Major  *uint64 `json:"major,omitempty"`
	Count  uint64  `json:"count"`
}

type usageRollup struct {
	Type      string          `json:"type"`
	Day       string          `json:"day"`
	Commands  []commandCount  `json:"commands,omitempty"`
	ToolCalls []toolCallCount `json:"tool_calls,omitempty"`
	Clients   []clientCount   `json:"clients,omitempty"`
	Dropped   uint64          `json:"dropped,omitempty"`
}

type lifecycleEvent struct {
	Type  string `json:"type"`
	Kind  string `json:"kind"`
	Day   string `json:"day"`
	Count uint64 `json:"count"`
}

type factsEvent struct {
	Type              string  `json:"type"`
	Day               string  `json:"day"`
	BackendCount      *string `json:"backend_count,omitempty"`
	AuthType          *string `json:"auth_type,omitempty"`
	ConflictStrategy  *string `json:"conflict_strategy,omitempty"`
	Uptime            *string `json:"uptime,omitempty"`
	Sessions          *string `json:"sessions,omitempty"`
	ProtocolVersion   *string `json:"protocol_version,omitempty"`
	DeclaresTools     *bool   `json:"declares_tools,omitempty"`
	DeclaresResources *bool   `json:"declares_resources,omitempty"`
	DeclaresPrompts   *bool   `json:"declares_prompts,omitempty"`
}

// The schema's closed sets, as arrays searched in place rather than maps
// built by the package's init: a host that never sends pays nothing for
// them at start-up.
var (
	errorClassWords  = [...]string{"parse", "invalid_request", "method_not_found", "invalid_params", "internal", "server_defined", "other"}
	lifecycleWords   = [...]string{"install", "uninstall", "upgrade"}
	countBucketWords = [...]string{"0", "1", "2-5", "6-10", "11-50", "51+"}
)

func inWords(v string, words []string) bool {
	for _, w := range words {
		if w == v {
			return true
		}
	}
	return false
}

func commandOutcomeSet(v string) bool { return inWords(v, commandOutcomeWords[:]) }
func toolOutcomeSet(v string) bool    { return inWords(v, toolOutcomeWords[:]) }
func errorClassSet(v string) bool     { return inWords(v, errorClassWords[:]) }
func clientSet(v string) bool         { return inWords(v, knownClients[:]) }
func lifecycleSet(v string) bool      { return inWords(v, lifecycleWords[:]) }
func countBuckets(v string) bool      { return inWords(v, countBucketWords[:]) }

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

func capCount(n uint64) uint64 {
	if n > MaxCount {
		return MaxCount
	}
	return n
}

func setFact(f *factsEvent, name, v string) bool {
	s := &v
	b := v == "true"
	switch name {
	case "backend_count":
		if countBuckets(v) {
			f.BackendCount = s
			return true
		}
	case "sessions":
		if countBuckets(v) {
			f.Sessions = s
			return true
		}
	case "auth_type":
		if inWords(v, []string{"anonymous", "oidc", "token_exchange", "api_key", "other"}) {
			f.AuthType = s
			return true
		}
	case "conflict_strategy":
		if inWords(v, []string{"prefix", "priority", "manual"}) {
			f.ConflictStrategy = s
			return true
		}
	case "uptime":
		if inWords(v, []string{"<1h", "1-24h", "1-7d", "7d+"}) {
			f.Uptime = s
			return true
		}
	case "protocol_version":
		if validDay(v) {
			f.ProtocolVersion = s
			return true
		}
	case "declares_tools", "declares_resources", "declares_prompts":
		if v != "true" && v != "false" {
			return false
		}
		switch name {
		case "declares_tools":
			f.DeclaresTools = &b
		case "declares_resources":
			f.DeclaresResources = &b
		default:
			f.DeclaresPrompts = &b
		}
		return true
	}
	return false
}

// eventsFrom builds the events for lines, the way the Rust rollup does: a
// line outside the schema is not sent but added to its day's dropped count.
func eventsFrom(lines []spoolLine) [][]byte {
	type day struct {
		r        usageRollup
		f        factsEvent
		hasFacts bool
	}
	days := map[string]*day{}
	type lk struct{ day, kind string }
	life := map[lk]uint64{}
	for _, l := range lines {
		d := days[l.Day]
		if d == nil {
			d = &day{r: usageRollup{Type: "usage_rollup", Day: l.Day}, f: factsEvent{Type: "facts", Day: l.Day}}
			days[l.Day] = d
		}
		n := capCount(l.N)
		ok := false
		switch l.K {
		case "command":
			if n > 0 && ValidCommandPath(*l.Name) && (l.Outcome == nil || commandOutcomeSet(*l.Outcome)) &&
				(l.Value == nil || validCommandValue(*l.Value)) {
				c := commandCount{Command: *l.Name, Value: l.Value, Outcome: "unknown", Count: n}
				if l.Outcome != nil {
					c.Outcome = *l.Outcome
				}
				if l.Lat != nil {
					lat := *l.Lat
					for i := range lat {
						lat[i] = capCount(lat[i])
					}
					c.Duration = &lat
				}
				d.r.Commands = append(d.r.Commands, c)
				ok = true
			}
		case "tool":
			if n > 0 && (l.Name == nil || ValidToolName(*l.Name)) && toolOutcomeSet(*l.Outcome) && (l.Class == nil || errorClassSet(*l.Class)) {
				t := toolCallCount{Tool: l.Name, Outcome: *l.Outcome, ErrorClass: l.Class, Count: n}
				if l.Lat != nil {
					for i, x := range l.Lat {
						t.Latency[i] = capCount(x)
					}
				}
				d.r.ToolCalls = append(d.r.ToolCalls, t)
				ok = true
			}
		case "client":
			if n > 0 && clientSet(*l.Name) {
				c := clientCount{Client: *l.Name, Count: n}
				if l.Major != nil && *l.Major <= 9999 {
					c.Major = l.Major
				}
				d.r.Clients = append(d.r.Clients, c)
				ok = true
			}
		case "lifecycle":
			if n > 0 && lifecycleSet(*l.Kind) {
				life[lk{l.Day, *l.Kind}] += n
				ok = true
			}
		case "fact":
			if l.Val != nil && setFact(&d.f, *l.Name, *l.Val) {
				d.hasFacts = true
				ok = true
			}
		case "dropped":
			d.r.Dropped = satAdd(d.r.Dropped, n)
			ok = true
		}
		if !ok {
			d.r.Dropped = satAdd(d.r.Dropped, 1)
		}
	}
	names := make([]string, 0, len(days))
	for k := range days {
		names = append(names, k)
	}
	sort.Strings(names)
	var events [][]byte
	add := func(v interface{ encode() []byte }) { events = append(events, v.encode()) }
	for _, k := range names {
		d := days[k]
		sort.SliceStable(d.r.Commands, func(i, j int) bool {
			a, b := d.r.Commands[i], d.r.Commands[j]
			if a.Command != b.Command {
				return a.Command < b.Command
			}
			// No value first, then by value, as the Rust rollup orders them.
			return b.Value != nil && (a.Value == nil || *a.Value < *b.Value)
		})
		d.r.Dropped = capCount(d.r.Dropped)
		if len(d.r.Commands)+len(d.r.ToolCalls)+len(d.r.Clients) > 0 || d.r.Dropped > 0 {
			add(&d.r)
		}
		if d.hasFacts {
			add(&d.f)
		}
	}
	keys := make([]lk, 0, len(life))
	for k := range life {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].day != keys[j].day {
			return keys[i].day < keys[j].day
		}
		return keys[i].kind < keys[j].kind
	})
	for _, k := range keys {
		add(&lifecycleEvent{Type: "lifecycle", Kind: k.kind, Day: k.day, Count: capCount(life[k])})
	}
	return events
}

func (r *usageRollup) encode() []byte {
	w := (&jw{}).str("type", r.Type).str("day", r.Day)
	if len(r.Commands) > 0 {
		items := make([][]byte, len(r.Commands))
		for i, c := range r.Commands {
			cw := (&jw{}).str("command", c.Command).optStr("value", c.Value)
			if c.Outcome != "" {
				cw.str("outcome", c.Outcome)
			}
			cw.uint("count", c.Count)
			if c.Duration != nil {
				cw.uints("duration", c.Duration[:])
			}
			items[i] = cw.done()
		}
		w.raw("commands", jarray(items))
	}
	if len(r.ToolCalls) > 0 {
		items := make([][]byte, len(r.ToolCalls))
		for i, t := range r.ToolCalls {
			items[i] = (&jw{}).optStr("tool", t.Tool).str("outcome", t.Outcome).optStr("error_class", t.ErrorClass).
				uint("count", t.Count).uints("latency", t.Latency[:]).done()
		}
		w.raw("tool_calls", jarray(items))
	}
	if len(r.Clients) > 0 {
		items := make([][]byte, len(r.Clients))
		for i, c := range r.Clients {
			cw := (&jw{}).str("client", c.Client)
			if c.Major != nil {
				cw.uint("major", *c.Major)
			}
			items[i] = cw.uint("count", c.Count).done()
		}
		w.raw("clients", jarray(items))
	}
	if r.Dropped > 0 {
		w.uint("dropped", r.Dropped)
	}
	return w.done()
}

func (l *lifecycleEvent) encode() []byte {
	return (&jw{}).str("type", l.Type).str("kind", l.Kind).str("day", l.Day).uint("count", l.Count).done()
}

func (f *factsEvent) encode() []byte {
	w := (&jw{}).str("type", f.Type).str("day", f.Day).optStr("backend_count", f.BackendCount).
		optStr("auth_type", f.AuthType).optStr("conflict_strategy", f.ConflictStrategy).optStr("uptime", f.Uptime).
		optStr("sessions", f.Sessions).optStr("protocol_version", f.ProtocolVersion)
	for _, b := range []struct {
		k string
		v *bool
	}{{"declares_tools", f.DeclaresTools}, {"declares_resources", f.DeclaresResources}, {"declares_prompts", f.DeclaresPrompts}} {
		if b.v != nil {
			w.bool(b.k, *b.v)
		}
	}
	return w.done()
}
