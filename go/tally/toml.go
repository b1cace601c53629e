package tally

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The parse errors, built without fmt (which every call site would pay
// for in the host's binary).
var (
	errBadEscape    = errors.New("bad escape")
	errUnterminated = errors.New("unterminated string")
)

func lineErr(n int, msg string) error { return errors.New("line " + strconv.Itoa(n+1) + ": " + msg) }

// tomlValue is one scalar of tally's flat TOML files: a string, a boolean
// or an integer.
type tomlValue struct {
	kind byte // 's', 'b', 'i'
	s    string
	b    bool
	i    int64
}

func (v tomlValue) typeName() string {
	switch v.kind {
	case 's':
		return "a string"
	case 'b':
		return "a boolean"
	}
	return "an integer"
}

// parseFlatTOML parses the subset of TOML tally's consent and policy files
// use: top-level `key = value` lines with basic or literal strings,
// booleans and integers, comments and blank lines. Anything else (tables,
// arrays, multi-line strings, dotted keys) is an error, so the file fails
// closed rather than being half understood.
func parseFlatTOML(text string) (map[string]tomlValue, error) {
	out := map[string]tomlValue{}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			continue
		}
		eq := strings.IndexByte(t, '=')
		if eq < 0 {
			return nil, lineErr(n, "expected `key = value`")
		}
		key := strings.TrimSpace(t[:eq])
		if key == "" || strings.IndexFunc(key, func(r rune) bool {
			return !(r < 128 && (isAlnum(byte(r)) || r == '_' || r == '-'))
		}) >= 0 {
			return nil, lineErr(n, "unsupported key "+strconv.Quote(key))
		}
		if _, dup := out[key]; dup {
			return nil, lineErr(n, "duplicate key `"+key+"`")
		}
		v, rest, err := parseTOMLValue(strings.TrimSpace(t[eq+1:]))
		if err != nil {
			return nil, lineErr(n, err.Error())
		}
		rest = strings.TrimSpace(rest)
		if rest != "" && rest[0] != '#' {
			return nil, lineErr(n, "unexpected "+strconv.Quote(rest)+" after the value")
		}
		out[key] = v
	}
	return out, nil
}

func parseTOMLValue(s string) (tomlValue, string, error) {
	switch {
	case strings.HasPrefix(s, `"""`) || strings.HasPrefix(s, "'''"):
		return tomlValue{}, "", errors.New("multi-line strings are not supported here")
	case strings.HasPrefix(s, `"`):
		// A byte slice, not a strings.Builder: its inlined writes made
		// this function twice as large in a host's binary.
		var b []byte
		for i := 1; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '"':
				return tomlValue{kind: 's', s: string(b)}, s[i+1:], nil
			case c == '\\' && i+1 < len(s):
				i++
				switch s[i] {
				case '"', '\\':
					b = append(b, s[i])
				case 'n':
					b = append(b, '\n')
				case 't':
					b = append(b, '\t')
				case 'r':
					b = append(b, '\r')
				case 'b':
					b = append(b, '\b')
				case 'f':
					b = append(b, '\f')
				case 'u', 'U':
					w := 4
					if s[i] == 'U' {
						w = 8
					}
					if i+w >= len(s) {
						return tomlValue{}, "", errBadEscape
					}
					r, err := strconv.ParseUint(s[i+1:i+1+w], 16, 32)
					if err != nil {
						return tomlValue{}, "", errBadEscape
					}
					b = utf8.AppendRune(b, rune(r))
					i += w
				default:
					return tomlValue{}, "", errBadEscape
				}
			case c < 0x20 && c != '\t':
				return tomlValue{}, "", errors.New("control character in string")
			default:
				b = append(b, c)
			}
		}
		return tomlValue{}, "", errUnterminated
	case strings.HasPrefix(s, "'"):
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return tomlValue{}, "", errUnterminated
		}
		return tomlValue{kind: 's', s: s[1 : 1+end]}, s[2+end:], nil
	}
	end := strings.IndexAny(s, " \t#")
	if end < 0 {
		end = len(s)
	}
	word, rest := s[:end], s[end:]
	switch word {
	case "true":
		return tomlValue{kind: 'b', b: true}, rest, nil
	case "false":
		return tomlValue{kind: 'b', b: false}, rest, nil
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(word, "_", ""), 10, 64)
	if err != nil || word == "" {
		return tomlValue{}, "", errors.New("unsupported value " + strconv.Quote(word))
	}
	return tomlValue{kind: 'i', i: i}, rest, nil
}

// renderTOMLString writes s as a TOML basic string.
func renderTOMLString(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, `\"`...)
		case r == '\\':
			b = append(b, `\\`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r < 0x20 || r == 0x7f:
			const hex = "0123456789ABCDEF"
			b = append(b, `\u00`...)
			b = append(b, hex[r>>4], hex[r&15])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return string(append(b, '"'))
}

// tomlKeyOf returns the bare key a line assigns, if it is such a line.
func tomlKeyOf(line string) string {
	t := strings.TrimLeft(line, " \t")
	end := 0
	for end < len(t) && (isAlnum(t[end]) || t[end] == '_' || t[end] == '-') {
		end++
	}
	if end == 0 || !strings.HasPrefix(strings.TrimLeft(t[end:], " \t"), "=") {
		return ""
	}
	return t[:end]
}

type tomlChange struct {
	key   string
	value *string // rendered TOML; nil removes the key
}

// setTOMLKeys sets or removes top-level keys, replacing a key's line where
// it is and appending new keys at the end; comments survive.
func setTOMLKeys(text string, changes []tomlChange) string {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if text == "" {
		lines = nil
	}
	for _, c := range changes {
		at := -1
		for i, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), "[") {
				break
			}
			if tomlKeyOf(l) == c.key {
				at = i
				break
			}
		}
		switch {
		case at >= 0 && c.value != nil:
			lines[at] = c.key + " = " + *c.value
		case at >= 0:
			lines = append(lines[:at], lines[at+1:]...)
		case c.value != nil:
			lines = append(lines, c.key+" = "+*c.value)
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
