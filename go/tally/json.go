package tally

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON reader and writer for tally's own flat records (spool
// lines, the ledger, the backoff, the helper's spec, batches). It keeps
// encoding/json, and its reflection, out of every host's binary: about
// 240 KB of a cobra host's size.

// jval is a parsed JSON value: exactly one of the fields is set, by kind
// ('o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null).
type jval struct {
	kind byte
	obj  map[string]*jval
	arr  []*jval
	str  string // the string, or a number's text
	b    bool
}

var errJSON = errors.New("invalid JSON")

// parseJSON parses one JSON document (at most 64 levels deep).
func parseJSON(b []byte) (*jval, error) {
	p := jparser{b: b}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(p.b) {
		return nil, errJSON
	}
	return v, nil
}

type jparser struct {
	b []byte
	i int
}

func (p *jparser) ws() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

//go:noinline
func (p *jparser) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

func (p *jparser) value(depth int) (*jval, error) {
	if depth > 64 {
		return nil, errJSON
	}
	p.ws()
	if p.i >= len(p.b) {
		return nil, errJSON
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		v := &jval{kind: 'o', obj: map[string]*jval{}}
		p.ws()
		if p.lit("}") {
			return v, nil
		}
		for {
			p.ws()
			if p.i >= len(p.b) || p.b[p.i] != '"' {
				return nil, errJSON
			}
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			p.ws()
			if !p.lit(":") {
				return nil, errJSON
			}
			e, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			if _, dup := v.obj[k]; dup {
				return nil, errJSON
			}
			v.obj[k] = e
			p.ws()
			if p.lit("}") {
				return v, nil
			}
			if !p.lit(",") {
				return nil, errJSON
			}
		}
	case c == '[':
		p.i++
		v := &jval{kind: 'a'}
		p.ws()
		if p.lit("]") {
			return v, nil
		}
		for {
			e, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			v.arr = append(v.arr, e)
			p.ws()
			if p.lit("]") {
				return v, nil
			}
			if !p.lit(",") {
				return nil, errJSON
			}
		}
	case c == '"':
		s, err := p.str()
		return &jval{kind: 's', str: s}, err
	case p.lit("true"):
		return &jval{kind: 'b', b: true}, nil
	case p.lit("false"):
		return &jval{kind: 'b'}, nil
	case p.lit("null"):
		return &jval{kind: 'z'}, nil
	case c == '-' || isDigit(c):
		start := p.i
		if c == '-' {
			p.i++
		}
		digits := p.i
		for p.i < len(p.b) && isDigit(p.b[p.i]) {
			p.i++
		}
		if p.i == digits || (p.b[digits] == '0' && p.i-digits > 1) {
			return nil, errJSON
		}
		if p.i < len(p.b) && p.b[p.i] == '.' {
			p.i++
			f := p.i
			for p.i < len(p.b) && isDigit(p.b[p.i]) {
				p.i++
			}
			if p.i == f {
				return nil, errJSON
			}
		}
		if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
			p.i++
			if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
				p.i++
			}
			f := p.i
			for p.i < len(p.b) && isDigit(p.b[p.i]) {
				p.i++
			}
			if p.i == f {
				return nil, errJSON
			}
		}
		return &jval{kind: 'n', str: string(p.b[start:p.i])}, nil
	}
	return nil, errJSON
}

func (p *jparser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	p.i += 4
	return rune(n), err == nil
}

// str reads a string at p.i (which is at the opening quote).
func (p *jparser) str() (string, error) {
	p.i++
	var out []byte
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			if !utf8.Valid(out) {
				return "", errJSON
			}
			return string(out), nil
		case c < 0x20:
			return "", errJSON
		case c == '\\':
			p.i++
			if p.i >= len(p.b) {
				return "", errJSON
			}
			e := p.b[p.i]
			p.i++
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", errJSON
				}
				if utf16.IsSurrogate(r) {
					if !p.lit(`\u`) {
						return "", errJSON
					}
					r2, ok := p.hex4()
					if !ok {
						return "", errJSON
					}
					if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
						return "", errJSON
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", errJSON
			}
		default:
			out = append(out, c)
			p.i++
		}
	}
	return "", errJSON
}

// Typed access for the records' fields: absent (or null) is (zero, false,
// nil); a value of the wrong type is an error.
//
// These, and the writers of jw, are marked go:noinline: inlined,
// each of their many call sites carried a copy, which cost a host's binary
// more than the calls cost the (cold) paths that use them.

//go:noinline
func (v *jval) field(k string) *jval {
	if v == nil || v.kind != 'o' {
		return nil
	}
	if f := v.obj[k]; f != nil && f.kind != 'z' {
		return f
	}
	return nil
}

//go:noinline
func (v *jval) optStr(k string) (*string, error) {
	f := v.field(k)
	if f == nil {
		return nil, nil
	}
	if f.kind != 's' {
		return nil, errJSON
	}
	s := f.str
	return &s, nil
}

//go:noinline
func (v *jval) getStr(k string) string {
	s, _ := v.optStr(k)
	if s == nil {
		return ""
	}
	return *s
}

//go:noinline
func (v *jval) optUint(k string) (*uint64, error) {
	f := v.field(k)
	if f == nil {
		return nil, nil
	}
	if f.kind != 'n' {
		return nil, errJSON
	}
	n, err := strconv.ParseUint(f.str, 10, 64)
	if err != nil {
		return nil, errJSON
	}
	return &n, nil
}

//go:noinline
func (v *jval) getInt(k string) int64 {
	f := v.field(k)
	if f == nil || f.kind != 'n' {
		return 0
	}
	n, _ := strconv.ParseInt(f.str, 10, 64)
	return n
}

//go:noinline
func (v *jval) getBool(k string) bool {
	f := v.field(k)
	return f != nil && f.kind == 'b' && f.b
}

// jw writes one JSON object: jw{}.str("a", x).num("n", 1).done().
type jw struct{ b []byte }

//go:noinline
func (w *jw) key(k string) {
	if len(w.b) == 0 {
		w.b = append(w.b, '{')
	} else {
		w.b = append(w.b, ',')
	}
	w.b = appendJSONString(w.b, k)
	w.b = append(w.b, ':')
}

//go:noinline
func (w *jw) str(k, v string) *jw { w.key(k); w.b = appendJSONString(w.b, v); return w }

//go:noinline
func (w *jw) optStr(k string, v *string) *jw {
	if v != nil {
		w.str(k, *v)
	}
	return w
}

//go:noinline
func (w *jw) uint(k string, v uint64) *jw { w.key(k); w.b = strconv.AppendUint(w.b, v, 10); return w }

//go:noinline
func (w *jw) int(k string, v int64) *jw { w.key(k); w.b = strconv.AppendInt(w.b, v, 10); return w }

//go:noinline
func (w *jw) bool(k string, v bool) *jw { w.key(k); w.b = strconv.AppendBool(w.b, v); return w }

//go:noinline
func (w *jw) raw(k string, v []byte) *jw { w.key(k); w.b = append(w.b, v...); return w }

func (w *jw) uints(k string, v []uint64) *jw {
	w.key(k)
	w.b = append(w.b, '[')
	for i, x := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = strconv.AppendUint(w.b, x, 10)
	}
	w.b = append(w.b, ']')
	return w
}

func (w *jw) strs(k string, v []string) *jw {
	w.key(k)
	w.b = append(w.b, '[')
	for i, x := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendJSONString(w.b, x)
	}
	w.b = append(w.b, ']')
	return w
}

//go:noinline
func (w *jw) done() []byte {
	if len(w.b) == 0 {
		return []byte("{}")
	}
	return append(w.b, '}')
}

// jarray joins encoded values into a JSON array.
func jarray(items [][]byte) []byte {
	b := []byte{'['}
	for i, x := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, x...)
	}
	return append(b, ']')
}

// indentJSON re-indents compact JSON with two spaces, the way
// encoding/json's MarshalIndent(v, "", "  ") lays it out.
func indentJSON(src []byte) []byte {
	var out []byte
	depth := 0
	nl := func() {
		out = append(out, '\n')
		for i := 0; i < depth; i++ {
			out = append(out, ' ', ' ')
		}
	}
	inStr := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inStr {
			out = append(out, c)
			if c == '\\' && i+1 < len(src) {
				i++
				out = append(out, src[i])
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
			out = append(out, c)
		case '{', '[':
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				out = append(out, c, src[i+1])
				i++
				continue
			}
			out = append(out, c)
			depth++
			nl()
		case '}', ']':
			depth--
			nl()
			out = append(out, c)
		case ',':
			out = append(out, c)
			nl()
		case ':':
			out = append(out, ':', ' ')
		default:
			out = append(out, c)
		}
	}
	return out
}
