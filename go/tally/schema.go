package tally

import (
	"runtime"
	"time"
)

// SchemaVersion is the wire format version (the Rust schema's SCHEMA_VERSION).
const SchemaVersion = 2

// ConsentVersion is the version of what users were told is collected; a
// higher one shows the notice again (the Rust schema's CONSENT_VERSION).
const ConsentVersion = 2

// BatchPath is the HTTP path batches are posted to (`tally serve` listens on it).
const BatchPath = "/v1/batch"

// MaxCount is the largest count a single row may carry.
const MaxCount = 1_000_000_000

// Buckets is the number of latency or duration buckets.
const Buckets = 7

var latencyBoundsMS = [Buckets - 1]int64{10, 50, 100, 500, 1000, 5000}
var durationBoundsMS = [Buckets - 1]int64{100, 500, 1000, 5000, 30000, 300000}

// LatencyBucket returns the tool-call latency bucket d falls in (bounds 10,
// 50, 100, 500, 1000, 5000 ms; the last bucket is everything slower).
func LatencyBucket(d time.Duration) int { return bucket(d, &latencyBoundsMS) }

// DurationBucket returns the command duration bucket d falls in (bounds
// 0.1, 0.5, 1, 5, 30, 300 s; the last bucket is everything slower).
func DurationBucket(d time.Duration) int { return bucket(d, &durationBoundsMS) }

func bucket(d time.Duration, bounds *[Buckets - 1]int64) int {
	ms := d.Milliseconds()
	for i, b := range bounds {
		if ms < b {
			return i
		}
	}
	return Buckets - 1
}

// CommandOutcome says how a command run ended.
type CommandOutcome uint8

// The command outcomes, in the schema's order.
const (
	Success CommandOutcome = iota
	Failure
	UsageError
	Interrupted
	Unknown
	numCommandOutcomes
)

var commandOutcomeWords = [...]string{"success", "failure", "usage_error", "interrupted", "unknown"}

// String returns the word on the wire.
func (o CommandOutcome) String() string {
	if o < numCommandOutcomes {
		return commandOutcomeWords[o]
	}
	return "unknown"
}

// OutcomeFromExitCode maps an exit code to an outcome by convention: 0
// success, 2 a usage error, 129/130/143 interrupted, anything else a failure.
func OutcomeFromExitCode(code int) CommandOutcome {
	switch code {
	case 0:
		return Success
	case 2:
		return UsageError
	case 129, 130, 143:
		return Interrupted
	}
	return Failure
}

// ToolOutcome says how an MCP tool call ended.
type ToolOutcome uint8

// The tool-call outcomes, in the schema's order.
const (
	ToolOK ToolOutcome = iota
	ToolError
	ToolProtocolError
	ToolCancelled
	ToolUnanswered
	numToolOutcomes
)

var toolOutcomeWords = [...]string{"ok", "tool_error", "protocol_error", "cancelled", "unanswered"}

// String returns the word on the wire.
func (o ToolOutcome) String() string {
	if o < numToolOutcomes {
		return toolOutcomeWords[o]
	}
	return "ok"
}

// schemaOS is this build's OS as the schema names it.
func schemaOS() string {
	switch runtime.GOOS {
	case "darwin":
		return "macos"
	case "linux", "windows", "freebsd", "openbsd", "netbsd", "android", "ios":
		return runtime.GOOS
	}
	return "other"
}

// schemaArch is this build's architecture as the schema names it.
func schemaArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "x86"
	case "arm":
		return "arm"
	case "riscv64":
		return "riscv64"
	case "ppc64", "ppc64le":
		return "powerpc64"
	case "s390x":
		return "s390x"
	case "loong64":
		return "loongarch64"
	}
	return "other"
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isLower(c) || isDigit(c) || (c >= 'A' && c <= 'Z') }

// ValidCommandPath reports whether s is a command path the schema accepts:
// 1-4 words of [a-z0-9][a-z0-9_-]{0,31} separated by single spaces.
func ValidCommandPath(s string) bool {
	words, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			w := s[start:i]
			if len(w) == 0 || len(w) > 32 || !(isLower(w[0]) || isDigit(w[0])) {
				return false
			}
			for j := 1; j < len(w); j++ {
				c := w[j]
				if !(isLower(c) || isDigit(c) || c == '_' || c == '-') {
					return false
				}
			}
			words++
			start = i + 1
		}
	}
	return words >= 1 && words <= 4
}

// validCommandValue reports whether s is a command's value the schema
// accepts: one word of [a-z0-9][a-z0-9_-]{0,31}, the shape of a command
// path's word. (The value of an argument a Rust host declared with a closed
// set of values; the Go module only carries it through spool and batch.)
func validCommandValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return false
		}
	}
	return ValidCommandPath(s)
}

// ValidToolName reports whether s is a tool name the schema accepts:
// [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}.
func ValidToolName(s string) bool {
	if len(s) == 0 || len(s) > 64 || !(isAlnum(s[0]) || s[0] == '_') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(isAlnum(c) || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// validDay reports whether s is a real calendar date YYYY-MM-DD.
func validDay(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	// By hand rather than time.Parse, which Close would otherwise pay for
	// on the spool's head.
	num := func(a, b int) int {
		n := 0
		for i := a; i < b; i++ {
			if !isDigit(s[i]) {
				return -1
			}
			n = n*10 + int(s[i]-'0')
		}
		return n
	}
	y, m, d := num(0, 4), num(5, 7), num(8, 10)
	if y < 0 || m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m-1]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}
