package tally

import (
	"strconv"
	"strings"
	"time"
)

// validVersion reports whether s is an application version the schema
// accepts: [0-9A-Za-z][0-9A-Za-z.+-]{0,31}.
func validVersion(s string) bool {
	if len(s) == 0 || len(s) > 32 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(isAlnum(c) || c == '.' || c == '+' || c == '-') {
			return false
		}
	}
	return true
}

// The MCP clients the schema knows by name; any other counts as "other".
var knownClients = [...]string{"claude-code", "claude-desktop", "claude-ai", "cursor", "vscode", "windsurf", "zed",
	"codex", "gemini-cli", "goose", "continue", "cline", "roo-code", "jetbrains", "copilot", "opencode", "amp",
	"mcp-inspector", "python-sdk", "typescript-sdk", "other"}

// clientAlias maps a few well-known names onto the schema's clients (a
// switch, not a map: nothing is built at a host's start-up).
func clientAlias(n string) string {
	switch n {
	case "claude", "claude-desktop-app":
		return "claude-desktop"
	case "visual-studio-code", "vs-code", "code", "github-copilot":
		return "vscode"
	case "cursor-vscode":
		return "cursor"
	case "gemini":
		return "gemini-cli"
	case "codex-mcp-client", "codex-cli":
		return "codex"
	case "inspector-client", "mcp-inspector-client":
		return "mcp-inspector"
	case "mcp", "mcp-python":
		return "python-sdk"
	}
	return n
}

// ClientName maps an MCP clientInfo.name onto the schema's clients:
// lower-cased, spaces and underscores as dashes, a few well-known aliases;
// anything else is "other".
func ClientName(raw string) string {
	n := strings.Map(func(r rune) rune {
		if r == ' ' || r == '_' {
			return '-'
		}
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, strings.TrimSpace(raw))
	n = clientAlias(n)
	for _, c := range knownClients {
		if c == n {
			return c
		}
	}
	return "other"
}

// MajorVersion returns the major number of a client's version ("1.2.3"
// gives 1, "v2" gives 2); ok is false when it has none or it is over 9999.
func MajorVersion(raw string) (major uint64, ok bool) {
	s := strings.TrimLeft(strings.TrimSpace(raw), "v")
	end := 0
	for end < len(s) && isDigit(s[end]) {
		end++
	}
	n, err := strconv.ParseUint(s[:end], 10, 64)
	if err != nil || n > 9999 {
		return 0, false
	}
	return n, true
}

// CountBucket returns the schema's bucket of a count (backend_count,
// sessions): "0", "1", "2-5", "6-10", "11-50" or "51+".
func CountBucket(n uint64) string {
	switch {
	case n <= 1:
		return strconv.FormatUint(n, 10)
	case n <= 5:
		return "2-5"
	case n <= 10:
		return "6-10"
	case n <= 50:
		return "11-50"
	}
	return "51+"
}

// UptimeBucket returns the schema's bucket of a process uptime: "<1h",
// "1-24h", "1-7d" or "7d+".
func UptimeBucket(d time.Duration) string {
	switch {
	case d < time.Hour:
		return "<1h"
	case d < 24*time.Hour:
		return "1-24h"
	case d < 7*24*time.Hour:
		return "1-7d"
	}
	return "7d+"
}
