package tally

import (
	"fmt"
	"net/url"
	"strings"
)

// The proxy a send goes through, decided as the Rust library decides it
// from the same environment snapshot (Options.Env or the process's):
// HTTPS_PROXY or HTTP_PROXY by the endpoint's scheme, then ALL_PROXY,
// each upper case before lower case, unless NO_PROXY matches the host.
// Loopback is no exception. A value that is neither a URL of a known
// scheme nor HOST:PORT stops sending (status says why) rather than
// connecting directly.

// proxySetting returns the variable and value a send to endpoint goes
// through; ok is false for a direct connection.
func proxySetting(e env, endpoint string) (name, value string, ok bool) {
	get := func(k string) (string, string, bool) {
		if v, ok := e.nonEmpty(k); ok {
			return k, v, true
		}
		l := strings.ToLower(k)
		v, ok := e.nonEmpty(l)
		return l, v, ok
	}
	scheme := "HTTP_PROXY"
	if endpointScheme(endpoint) == "https" {
		scheme = "HTTPS_PROXY"
	}
	name, value, ok = get(scheme)
	if !ok {
		name, value, ok = get("ALL_PROXY")
	}
	if !ok || hostOf(endpoint) == "" {
		return "", "", false
	}
	if _, list, set := get("NO_PROXY"); set && noProxyMatches(list, hostOf(endpoint)) {
		return "", "", false
	}
	return name, value, true
}

// noProxyMatches applies NO_PROXY: comma-separated hosts or domain
// suffixes (example.com, .example.com, *.example.com), or * for all.
func noProxyMatches(list, host string) bool {
	host = strings.ToLower(host)
	for _, e := range strings.Split(list, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		e = strings.SplitN(e, ":", 2)[0]
		if e == "*" {
			return true
		}
		suffix := strings.TrimLeft(strings.TrimLeft(e, "*"), ".")
		if host == suffix || strings.HasSuffix(host, "."+suffix) {
			return true
		}
	}
	return false
}

// isHostPort: HOST:PORT with a plausible host (letters, digits, '-', '.',
// or a bracketed IPv6 address) and a numeric port.
func isHostPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return false
	}
	host, port := s[:i], s[i+1:]
	ok := host != ""
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		inner := host[1 : len(host)-1]
		ok = inner != ""
		for _, c := range []byte(inner) {
			ok = ok && (isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':')
		}
	} else {
		for _, c := range []byte(host) {
			ok = ok && (isAlnum(c) || c == '-' || c == '.')
		}
	}
	if port == "" || len(port) > 5 {
		return false
	}
	for _, c := range []byte(port) {
		ok = ok && isDigit(c)
	}
	return ok
}

// proxyURL returns the proxy a send to endpoint goes through (nil: a
// direct connection), or why its setting cannot be used.
func (s *settings) proxyURL(endpoint string) (*url.URL, string) {
	name, value, ok := proxySetting(s.env, endpoint)
	if !ok {
		return nil, ""
	}
	unusable := func(why string) (*url.URL, string) {
		return nil, redactURL(fmt.Sprintf("the proxy setting %s=%q cannot be used (%s); nothing is sent until it is fixed or unset, rather than connecting directly", name, value, why))
	}
	raw := value
	if i := strings.Index(value, "://"); i >= 0 {
		switch strings.ToLower(value[:i]) {
		case "http", "https", "socks5":
		case "socks5h", "socks":
			// Go's SOCKS5 dialer passes host names to the proxy, which
			// is what socks5h means; socks:// is SOCKS5, as for the
			// Rust library.
			raw = "socks5" + value[i:]
		case "socks4", "socks4a":
			// Dialed by socks4Dial: the scheme is kept, lower case.
			raw = strings.ToLower(value[:i]) + value[i:]
		default:
			return unusable(fmt.Sprintf("unknown proxy scheme %q", value[:i]))
		}
	} else if isHostPort(value) {
		raw = "http://" + value
	} else {
		return unusable("not a URL: write it as http://HOST:PORT or socks5://HOST:PORT")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return unusable("not a URL: write it as http://HOST:PORT or socks5://HOST:PORT")
	}
	return u, ""
}
