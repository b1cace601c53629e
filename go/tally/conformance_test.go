package tally

// The conformance vectors of ../../conformance, generated from the Rust
// library, run through this module's own code: real files in a temp
// directory, the real sender posting to a real loopback listener. A file
// there that no runner here knows fails (TestConformanceEveryFileRuns):
// a new kind of case cannot be skipped by accident.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const conformanceDir = "../../conformance"

// The runners, by file.
var conformanceRunners = map[string]func(t *testing.T, raw json.RawMessage) (got, want interface{}){
	"consent/precedence.json": runPrecedence,
	"files/consent_file.json": runConsentFile,
	"files/policy_file.json":  runPolicyFile,
	"spool/batches.json":      runBatches,
	"spool/proxy.json":        runProxy,
	"schema/validation.json":  runValidation,
	"schema/buckets.json":     runBucket,
	"schema/names.json":       runName,
}

func TestConformanceEveryFileRuns(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(conformanceDir, "*", "*.json"))
	if len(files) == 0 {
		t.Fatal("no conformance cases found")
	}
	total := 0
	for _, f := range files {
		rel, _ := filepath.Rel(conformanceDir, f)
		rel = filepath.ToSlash(rel)
		run, ok := conformanceRunners[rel]
		if !ok {
			t.Errorf("%s: no Go runner for this kind of case", rel)
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []json.RawMessage
		if err := json.Unmarshal(b, &cases); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if len(cases) == 0 {
			t.Errorf("%s: no cases", rel)
		}
		for i, raw := range cases {
			got, want := run(t, raw)
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("%s case %d %s:\n got  %s\n want %s", rel, i, caseName(raw), g, w)
			}
			total++
		}
	}
	t.Logf("%d conformance cases in %d files", total, len(files))
}

func caseName(raw json.RawMessage) string {
	var c struct {
		Name  string      `json:"name"`
		Kind  string      `json:"kind"`
		Input interface{} `json:"input"`
	}
	_ = json.Unmarshal(raw, &c)
	if c.Name != "" {
		return fmt.Sprintf("%q", c.Name)
	}
	return fmt.Sprintf("%s %v", c.Kind, c.Input)
}

func mustDecode(t *testing.T, raw json.RawMessage, v interface{}) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
}

// conformancePaths writes the policy and consent files (nil: absent)
// under a temp directory and returns the paths.
func conformancePaths(t *testing.T, policy, config *string) Paths {
	dir := t.TempDir()
	p := Paths{ConfigFile: filepath.Join(dir, "config", ConfigFileName), StateDir: filepath.Join(dir, "state"), PolicyFile: filepath.Join(dir, "policy.toml")}
	if policy != nil {
		if err := os.WriteFile(p.PolicyFile, []byte(*policy), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if config != nil {
		_ = os.MkdirAll(filepath.Dir(p.ConfigFile), 0o700)
		if err := os.WriteFile(p.ConfigFile, []byte(*config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func envPairs(m map[string]string) []string {
	out := []string{}
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

type decision struct {
	Enabled   bool   `json:"enabled"`
	DecidedBy string `json:"decided_by"`
}

func runPrecedence(t *testing.T, raw json.RawMessage) (interface{}, interface{}) {
	var c struct {
		OptIn  bool              `json:"opt_in"`
		Env    map[string]string `json:"env"`
		Flag   bool              `json:"flag"`
		Policy *string           `json:"policy"`
		Config *string           `json:"config"`
		Want   decision          `json:"want"`
	}
	mustDecode(t, raw, &c)
	p := conformancePaths(t, c.Policy, c.Config)
	tl, err := New(Options{Name: "demo", OptIn: c.OptIn, NoTelemetry: c.Flag, Env: envPairs(c.Env), Paths: &p, NoBackgroundSend: true})
	if err != nil {
		t.Fatal(err)
	}
	st := tl.Status()
	return decision{st.Enabled, st.DecidedBy}, c.Want
}

type parsedFile struct {
	Valid     bool                   `json:"valid"`
	Values    map[string]interface{} `json:"values"`
	Enabled   bool                   `json:"enabled"`
	DecidedBy string                 `json:"decided_by"`
	Endpoint  *string                `json:"endpoint"`
}

// decisionOf resolves an opt-out app with nothing else set over p.
func decisionOf(t *testing.T, p Paths, f *parsedFile) {
	s := resolveSettings(Options{Name: "demo", EnvPrefix: "DEMO", Command: "telemetry"}, envFrom(nil), p)
	f.Enabled, f.DecidedBy = s.consent.Enabled, s.consent.DecidedBy.String()
	if s.endpoint != "" {
		f.Endpoint = strp(s.endpoint)
	}
}

// jsonish turns a Go value into what encoding/json decodes it as.
func jsonish(t *testing.T, v interface{}) map[string]interface{} {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]interface{}
	_ = json.Unmarshal(b, &m)
	return m
}

func runConsentFile(t *testing.T, raw json.RawMessage) (interface{}, interface{}) {
	var c struct {
		Text string     `json:"text"`
		Want parsedFile `json:"want"`
	}
	mustDecode(t, raw, &c)
	p := conformancePaths(t, nil, &c.Text)
	var got parsedFile
	st := LoadConfig(p.ConfigFile)
	switch st.Kind {
	case ConfigLoaded:
		u := st.User
		got.Valid = true
		got.Values = jsonish(t, struct {
			Enabled           *bool   `json:"enabled,omitempty"`
			DecidedAt         *string `json:"decided_at,omitempty"`
			DecidedVia        *string `json:"decided_via,omitempty"`
			ConsentVersion    *int    `json:"consent_version,omitempty"`
			NoticeVersion     *int    `json:"notice_version,omitempty"`
			Endpoint          *string `json:"endpoint,omitempty"`
			FlushIntervalSecs *int64  `json:"flush_interval_secs,omitempty"`
		}{u.Enabled, u.DecidedAt, u.DecidedVia, u.ConsentVersion, u.NoticeVersion, u.Endpoint, u.FlushIntervalSecs})
	case ConfigBroken:
	default:
		t.Fatalf("the consent file was not read: %v", st)
	}
	decisionOf(t, p, &got)
	return got, c.Want
}

func runPolicyFile(t *testing.T, raw json.RawMessage) (interface{}, interface{}) {
	var c struct {
		Text string     `json:"text"`
		Want parsedFile `json:"want"`
	}
	mustDecode(t, raw, &c)
	p := conformancePaths(t, &c.Text, nil)
	var got parsedFile
	st := LoadPolicy(p.PolicyFile)
	switch st.Kind {
	case PolicyLoaded:
		got.Valid = true
		v := struct {
			Off      bool    `json:"telemetry_off"`
			Endpoint *string `json:"endpoint"`
			Rotation *string `json:"rotate_machine_id"`
			Plain    bool    `json:"allow_plain_http"`
		}{Off: st.ForceOff, Plain: st.AllowPlainHTTP}
		if st.Endpoint != "" {
			v.Endpoint = strp(st.Endpoint)
		}
		if st.Rotation != "" {
			v.Rotation = strp(st.Rotation)
		}
		got.Values = jsonish(t, v)
	case PolicyBroken:
	default:
		t.Fatalf("the policy file was not read: %v", st)
	}
	decisionOf(t, p, &got)
	return got, c.Want
}

type flushed struct {
	Result     string   `json:"result"`
	ExitCode   int      `json:"exit_code"`
	Batches    []string `json:"batches"`
	SpoolAfter string   `json:"spool_after"`
}

func runBatches(t *testing.T, raw json.RawMessage) (interface{}, interface{}) {
	var c struct {
		Version string            `json:"version"`
		Env     map[string]string `json:"env"`
		Now     string            `json:"now"`
		Policy  *string           `json:"policy"`
		Config  string            `json:"config"`
		Spool   string            `json:"spool"`
		Status  int               `json:"status"`
		Want    flushed           `json:"want"`
	}
	mustDecode(t, raw, &c)
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.WriteHeader(c.Status)
	}))
	defer srv.Close()
	p := conformancePaths(t, c.Policy, &c.Config)
	if err := os.MkdirAll(p.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.StateDir, fileSpool), []byte(c.Spool), 0o600); err != nil {
		t.Fatal(err)
	}
	o := Options{Name: "demo", Version: c.Version, EnvPrefix: "DEMO", Command: "telemetry", Endpoint: srv.URL + "/v1/batch"}
	s := resolveSettings(o, envFrom(envPairs(c.Env)), p)
	s.clock = clockFromOverride(c.Now)
	if s.clock.now().Format(time.RFC3339) != strings.TrimSuffix(c.Now, "Z")+"Z" && !strings.HasPrefix(s.clock.now().Format(time.RFC3339), c.Now[:19]) {
		t.Fatalf("now %q did not pin the clock", c.Now)
	}
	// What `telemetry flush` does: its delivery, result word and exit code.
	res, err := s.send(context.Background(), false, nil)
	got := flushed{Result: res.Result, ExitCode: res.ExitCode(err)}
	after, _ := os.ReadFile(filepath.Join(p.StateDir, fileSpool))
	ids := conformanceIDs{keep: c.Env}
	got.Batches = []string{}
	for _, b := range bodies {
		got.Batches = append(got.Batches, ids.body(t, b))
	}
	got.SpoolAfter = ids.spool(string(after))
	if c.Want.Batches == nil {
		c.Want.Batches = []string{}
	}
	return got, c.Want
}

// conformanceIDs normalises random ids as conformance/README.md says.
type conformanceIDs struct {
	keep     map[string]string
	machines []string
	batches  []string
}

func numberOf(seen *[]string, id string) int {
	for i, s := range *seen {
		if s == id {
			return i
		}
	}
	*seen = append(*seen, id)
	return len(*seen) - 1
}

func (n *conformanceIDs) body(t *testing.T, b []byte) string {
	var bt struct {
		Envelope struct {
			OS        string `json:"os"`
			Arch      string `json:"arch"`
			MachineID string `json:"machine_id"`
			BatchID   string `json:"batch_id"`
		} `json:"envelope"`
	}
	if err := json.Unmarshal(b, &bt); err != nil {
		t.Fatalf("a posted body is not a batch: %v: %s", err, b)
	}
	e := bt.Envelope
	out := strings.ReplaceAll(string(b), e.BatchID, fmt.Sprintf("<batch_id:%d>", numberOf(&n.batches, e.BatchID)))
	kept := false
	for _, v := range n.keep {
		kept = kept || v == e.MachineID
	}
	if !kept {
		out = strings.ReplaceAll(out, e.MachineID, fmt.Sprintf("<machine_id:%d>", numberOf(&n.machines, e.MachineID)))
	}
	out = strings.Replace(out, `"os":"`+e.OS+`"`, `"os":"<os>"`, 1)
	return strings.Replace(out, `"arch":"`+e.Arch+`"`, `"arch":"<arch>"`, 1)
}

func (n *conformanceIDs) spool(text string) string {
	out := text
	for _, line := range strings.Split(text, "\n") {
		parts := strings.SplitN(line, `"b":"`, 2)
		if len(parts) == 2 {
			id := strings.SplitN(parts[1], `"`, 2)[0]
			out = strings.ReplaceAll(out, id, fmt.Sprintf("<batch_id:%d>", numberOf(&n.batches, id)))
		}
	}
	return out
}

func runProxy(t *testing.T, raw json.RawMessage) (interface{}, interface{}) {
	type choice struct {
		Via      *string `json:"via"`
		Unusable bool    `json:"unusable"`
	}
	var c struct {
		Env      map[string]string `json:"env"`
		Endpoint string            `json:"endpoint"`
		Want     choice            `json:"want"`
	}
	mustDecode(t, raw, &c)
	o := Options{Name: "demo", EnvPrefix: "DEMO", Command: "telemetry", Endpoint: c.Endpoint}
	s := resolveSettings(o, envFrom(envPairs(c.Env)), conformancePaths(t, nil, nil))
	url := normalizeEndpoint(c.Endpoint)
	var got choice
	if name, _, ok := proxySetting(s.env, url); ok {
		got.Via = &name
	}
	_, why := s.proxyURL(url)
	got.Unusable = why != ""
	return got, c.Want
}

func runValidation(t *testing.T, raw json.RawMessage) (interface{}, interface{}) {
	var c struct {
		Today string                 `json:"today"`
		Body  string                 `json:"body"`
		Want  map[string]interface{} `json:"want"`
	}
	mustDecode(t, raw, &c)
	return jsonish(t, ValidateBatch([]byte(c.Body), c.Today)), c.Want
}

func runBucket(t *testing.T, raw json.RawMessage) (interface{}, interface{}) {
	var c struct {
		Kind  string      `json:"kind"`
		Input int64       `json:"input"`
		Want  interface{} `json:"want"`
	}
	mustDecode(t, raw, &c)
	ms := time.Duration(c.Input) * time.Millisecond
	var got interface{}
	switch c.Kind {
	case "outcome":
		got = OutcomeFromExitCode(int(c.Input)).String()
	case "duration":
		got = float64(DurationBucket(ms))
	case "latency":
		got = float64(LatencyBucket(ms))
	case "count":
		got = CountBucket(uint64(c.Input))
	case "uptime":
		got = UptimeBucket(time.Duration(c.Input) * time.Second)
	default:
		t.Errorf("no Go runner for bucket kind %q", c.Kind)
	}
	return got, c.Want
}

func runName(t *testing.T, raw json.RawMessage) (interface{}, interface{}) {
	var c struct {
		Kind  string      `json:"kind"`
		Input string      `json:"input"`
		Want  interface{} `json:"want"`
	}
	mustDecode(t, raw, &c)
	var got interface{}
	switch c.Kind {
	case "command_path":
		got = ValidCommandPath(c.Input)
	case "tool_name":
		got = ValidToolName(c.Input)
	case "app_name":
		got = validAppName(c.Input)
	case "version":
		got = validVersion(c.Input)
	case "client_name":
		got = ClientName(c.Input)
	case "major_version":
		if m, ok := MajorVersion(c.Input); ok {
			got = float64(m)
		}
	default:
		t.Errorf("no Go runner for name kind %q", c.Kind)
	}
	return got, c.Want
}
