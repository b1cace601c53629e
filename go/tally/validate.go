package tally

import (
	"fmt"
	"sort"
	"strconv"
	"time"
)

// Validation of a batch as `tally serve` validates it (the Rust schema's
// validate.rs and field table, ported): a batch is rejected outright for a
// wrong JSON type or shape, and otherwise kept with what lies outside the
// schema dropped and counted. The conformance vectors check that both
// answer alike; a host never needs it (the batches this module builds are
// valid by construction), so the linker leaves it out of every host.

// Validity is what validation decided about one batch.
type Validity struct {
	// Valid is false when the batch is rejected outright (HTTP 400).
	Valid bool `json:"valid"`
	// Reason says why it was rejected.
	Reason *string `json:"reason,omitempty"`
	// Events is how many events were kept, when it was accepted.
	Events *int `json:"events,omitempty"`
	// Dropped counts what was removed, by class, when it was accepted.
	Dropped *Drops `json:"dropped,omitempty"`
}

// Drops counts what validation removed from an accepted batch.
type Drops struct {
	// UnknownEvents: events whose type is not in the schema.
	UnknownEvents uint64 `json:"unknown_events"`
	// UnknownFields: keys not in the schema.
	UnknownFields uint64 `json:"unknown_fields"`
	// InvalidValues: values outside their pattern, allowlist or range.
	InvalidValues uint64 `json:"invalid_values"`
	// OutOfWindow: events of a day over 30 days old or in the future.
	OutOfWindow uint64 `json:"out_of_window"`
}

type vkind struct {
	k       byte // 's' pattern, 'e' enum, 'b' bool, 'i' int, 'a' int array, 'l' list
	pattern func(string) bool
	enum    map[string]bool
	min     uint64
	max     uint64
	length  int
	fields  []vfield
}

type vfield struct {
	name     string
	kind     vkind
	required bool
}

func vreq(name string, k vkind) vfield { return vfield{name, k, true} }
func vopt(name string, k vkind) vfield { return vfield{name, k, false} }

func venum(words ...string) vkind { return vkind{k: 'e', enum: set(words...)} }

// vSchema builds the field table on use: as package-level variables its
// maps would be built by every host's start-up and linked into every host.
func vSchema() (envelope []vfield, events map[string][]vfield) {
	count := vkind{k: 'i', min: 1, max: MaxCount}
	buckets := vkind{k: 'a', length: Buckets, max: MaxCount}
	day := vkind{k: 's', pattern: validDay}
	uuid := vkind{k: 's', pattern: func(s string) bool { _, ok := parseUUID(s); return ok && len(s) == 36 }}
	boolean := vkind{k: 'b'}
	envelope = []vfield{
		vreq("app", vkind{k: 's', pattern: validAppName}),
		vreq("app_version", vkind{k: 's', pattern: validVersion}),
		vreq("os", venum("linux", "macos", "windows", "freebsd", "openbsd", "netbsd", "android", "ios", "other")),
		vreq("arch", venum("x86_64", "aarch64", "x86", "arm", "riscv64", "powerpc64", "s390x", "loongarch64", "other")),
		vreq("ci", boolean),
		vreq("schema", vkind{k: 'i', min: 1, max: SchemaVersion}),
		vreq("machine_id", uuid),
		vreq("batch_id", uuid),
	}
	countBuckets := venum("0", "1", "2-5", "6-10", "11-50", "51+")
	events = map[string][]vfield{
		"usage_rollup": {
			vreq("day", day),
			vopt("commands", vkind{k: 'l', max: 512, fields: []vfield{
				vreq("command", vkind{k: 's', pattern: ValidCommandPath}),
				vopt("value", vkind{k: 's', pattern: validCommandValue}),
				vopt("outcome", venum(commandOutcomeWords[:]...)),
				vreq("count", count),
				vopt("duration", buckets),
			}}),
			vopt("tool_calls", vkind{k: 'l', max: 512, fields: []vfield{
				vopt("tool", vkind{k: 's', pattern: ValidToolName}),
				vreq("outcome", venum("ok", "tool_error", "protocol_error", "cancelled", "unanswered")),
				vopt("error_class", venum("parse", "invalid_request", "method_not_found", "invalid_params", "internal", "server_defined", "other")),
				vreq("count", count),
				vreq("latency", buckets),
			}}),
			vopt("clients", vkind{k: 'l', max: 64, fields: []vfield{
				vreq("client", venum(knownClients[:]...)),
				vopt("major", vkind{k: 'i', min: 0, max: 9999}),
				vreq("count", count),
			}}),
			vopt("dropped", vkind{k: 'i', min: 0, max: MaxCount}),
		},
		"lifecycle": {
			vreq("kind", venum("install", "uninstall", "upgrade")),
			vreq("day", day),
			vreq("count", count),
		},
		"facts": {
			vreq("day", day),
			vopt("backend_count", countBuckets),
			vopt("auth_type", venum("anonymous", "oidc", "token_exchange", "api_key", "other")),
			vopt("conflict_strategy", venum("prefix", "priority", "manual")),
			vopt("uptime", venum("<1h", "1-24h", "1-7d", "7d+")),
			vopt("sessions", countBuckets),
			vopt("protocol_version", day),
			vopt("declares_tools", boolean),
			vopt("declares_resources", boolean),
			vopt("declares_prompts", boolean),
		},
	}
	return envelope, events
}

type reject string

// ValidateBatch validates a batch body as `tally serve` does on the UTC
// day today (YYYY-MM-DD).
func ValidateBatch(body []byte, today string) Validity {
	n, drops, err := validateBatch(body, today)
	if err != "" {
		r := string(err)
		return Validity{Reason: &r}
	}
	return Validity{Valid: true, Events: &n, Dropped: &drops}
}

func sortedKeys(m map[string]*jval) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func validateBatch(body []byte, today string) (int, Drops, reject) {
	var d Drops
	v, err := parseJSON(body)
	if err != nil {
		return 0, d, "body is not JSON"
	}
	if v.kind != 'o' {
		return 0, d, "body must be a JSON object"
	}
	env, events := v.obj["envelope"], v.obj["events"]
	if env == nil {
		return 0, d, "missing `envelope`"
	}
	if events == nil {
		return 0, d, "missing `events`"
	}
	d.UnknownFields += uint64(len(v.obj) - 2)
	if env.kind != 'o' {
		return 0, d, "`envelope` must be an object"
	}
	vEnvelope, vEvents := vSchema()
	var ed Drops
	kept, r := checkObject("envelope", env, vEnvelope, &ed)
	if r != "" {
		return 0, d, r
	}
	if kept == nil {
		if ed.InvalidValues > 0 {
			return 0, d, "`envelope` has a value outside the schema"
		}
		return 0, d, "`envelope` is missing a required field"
	}
	if ed.InvalidValues > 0 {
		return 0, d, "`envelope` has a value outside the schema"
	}
	d.UnknownFields += ed.UnknownFields
	if events.kind != 'a' {
		return 0, d, "`events` must be an array"
	}
	if len(events.arr) > 64 {
		return 0, d, "more than 64 events in one batch"
	}
	day, _ := time.Parse("2006-01-02", today)
	oldest, newest := day.AddDate(0, 0, -30).Format("2006-01-02"), day.AddDate(0, 0, 1).Format("2006-01-02")
	n := 0
	var total uint64
	for i, e := range events.arr {
		if e.kind != 'o' {
			return 0, d, reject(fmt.Sprintf("events[%d] must be an object", i))
		}
		ty := e.obj["type"]
		if ty == nil {
			return 0, d, reject(fmt.Sprintf("events[%d] has no `type`", i))
		}
		if ty.kind != 's' {
			return 0, d, reject(fmt.Sprintf("events[%d].type must be a string", i))
		}
		def, ok := vEvents[ty.str]
		if !ok {
			d.UnknownEvents++
			continue
		}
		rest := &jval{kind: 'o', obj: map[string]*jval{}}
		for k, f := range e.obj {
			if k != "type" {
				rest.obj[k] = f
			}
		}
		fields, r := checkObject(fmt.Sprintf("events[%d]", i), rest, def, &d)
		if r != "" {
			return 0, d, r
		}
		if fields == nil {
			continue
		}
		if dv := fields["day"].str; dv < oldest || dv > newest {
			d.OutOfWindow++
			continue
		}
		total = satAdd(total, counted(def, fields))
		if total > MaxCount {
			return 0, d, reject(fmt.Sprintf("the counts in this batch add up to more than %d", uint64(MaxCount)))
		}
		n++
	}
	return n, d, ""
}

// checkObject keeps the fields of obj the schema knows and accepts; nil
// (without a reject) drops the object: a required field is missing or
// invalid.
func checkObject(at string, obj *jval, fields []vfield, d *Drops) (map[string]*jval, reject) {
	out := map[string]*jval{}
	for _, k := range sortedKeys(obj.obj) {
		val := obj.obj[k]
		var f *vfield
		for i := range fields {
			if fields[i].name == k {
				f = &fields[i]
			}
		}
		if f == nil {
			d.UnknownFields++
			continue
		}
		if val.kind == 'z' {
			continue
		}
		kept, r := checkValue(at+"."+k, f.kind, val, d)
		if r != "" {
			return nil, r
		}
		if kept != nil {
			out[k] = kept
		} else {
			d.InvalidValues++
		}
	}
	for _, f := range fields {
		if f.required && out[f.name] == nil {
			d.InvalidValues++
			return nil, ""
		}
	}
	return out, ""
}

// intOf reads an integer as serde_json does: an integer literal within
// i64 or u64, nothing else.
func intOf(v *jval) (int64, uint64, bool) {
	if v.kind != 'n' {
		return 0, 0, false
	}
	if u, err := strconv.ParseUint(v.str, 10, 64); err == nil {
		return 0, u, true
	}
	if i, err := strconv.ParseInt(v.str, 10, 64); err == nil {
		return i, 0, true
	}
	return 0, 0, false
}

func inRange(v *jval, min, max uint64) (ok bool, isInt bool) {
	i, u, isInt := intOf(v)
	if !isInt {
		return false, false
	}
	if i < 0 {
		return false, true
	}
	return u >= min && u <= max, true
}

func checkValue(at string, k vkind, v *jval, d *Drops) (*jval, reject) {
	wrong := func(what string) reject { return reject(at + " must be " + what) }
	switch k.k {
	case 's':
		if v.kind != 's' {
			return nil, wrong("a string")
		}
		if k.pattern(v.str) {
			return v, ""
		}
		return nil, ""
	case 'e':
		if v.kind != 's' {
			return nil, wrong("a string")
		}
		if k.enum[v.str] {
			return v, ""
		}
		return nil, ""
	case 'b':
		if v.kind != 'b' {
			return nil, wrong("true or false")
		}
		return v, ""
	case 'i':
		ok, isInt := inRange(v, k.min, k.max)
		if !isInt {
			return nil, wrong("an integer")
		}
		if ok {
			return v, ""
		}
		return nil, ""
	case 'a':
		if v.kind != 'a' {
			return nil, wrong("an array of integers")
		}
		ok := len(v.arr) == k.length
		for _, item := range v.arr {
			in, isInt := inRange(item, 0, k.max)
			if !isInt {
				return nil, wrong("an array of integers")
			}
			ok = ok && in
		}
		if ok {
			return v, ""
		}
		return nil, ""
	case 'l':
		if v.kind != 'a' {
			return nil, wrong("an array of objects")
		}
		out := &jval{kind: 'a'}
		for i, item := range v.arr {
			if item.kind != 'o' {
				return nil, reject(fmt.Sprintf("%s[%d] must be an object", at, i))
			}
			if uint64(len(out.arr)) == k.max {
				d.InvalidValues++
				continue
			}
			o, r := checkObject(fmt.Sprintf("%s[%d]", at, i), item, k.fields, d)
			if r != "" {
				return nil, r
			}
			if o == nil {
				continue
			}
			if bucketsAddUp(k.fields, o) {
				out.arr = append(out.arr, &jval{kind: 'o', obj: o})
			} else {
				d.InvalidValues++
			}
		}
		return out, ""
	}
	return nil, ""
}

func uintOf(v *jval) uint64 {
	if v == nil {
		return 0
	}
	_, u, _ := intOf(v)
	return u
}

// bucketsAddUp: each bucket array of an item adds up to its count (or is
// all 0: no histogram was recorded).
func bucketsAddUp(fields []vfield, o map[string]*jval) bool {
	var count *jval
	for _, f := range fields {
		if f.kind.k == 'i' && f.kind.max == MaxCount && count == nil {
			count = o[f.name]
			if count == nil {
				return true
			}
		}
	}
	if count == nil {
		return true
	}
	for _, f := range fields {
		if b := o[f.name]; f.kind.k == 'a' && f.kind.max == MaxCount && b != nil && b.kind == 'a' {
			var total uint64
			for _, x := range b.arr {
				total = satAdd(total, uintOf(x))
			}
			if total != 0 && total != uintOf(count) {
				return false
			}
		}
	}
	return true
}

// counted: what an object's counts add up to, lists included.
func counted(fields []vfield, o map[string]*jval) uint64 {
	var total uint64
	for _, f := range fields {
		v := o[f.name]
		switch {
		case v == nil:
		case f.kind.k == 'i' && f.kind.max == MaxCount:
			total = satAdd(total, uintOf(v))
		case f.kind.k == 'l' && v.kind == 'a':
			for _, item := range v.arr {
				if item.kind == 'o' {
					total = satAdd(total, counted(f.kind.fields, item.obj))
				}
			}
		}
	}
	return total
}
