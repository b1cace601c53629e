package tally

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// socks4Proxy is a real SOCKS4/4a proxy on 127.0.0.1: it reads a CONNECT,
// remembers what it was asked for, connects to target (whatever host the
// request named) and relays.
type socks4Proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	asked  []string
	target string
}

func startSocks4Proxy(t *testing.T, target string) *socks4Proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &socks4Proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *socks4Proxy) serve(c net.Conn) {
	defer c.Close()
	head := make([]byte, 8)
	if _, err := io.ReadFull(c, head); err != nil || head[0] != 4 || head[1] != 1 {
		return
	}
	readz := func() string {
		var b []byte
		one := make([]byte, 1)
		for {
			if _, err := c.Read(one); err != nil || one[0] == 0 {
				return string(b)
			}
			b = append(b, one[0])
		}
	}
	user := readz()
	dest := net.IP(head[4:8]).String()
	if head[4] == 0 && head[5] == 0 && head[6] == 0 && head[7] != 0 {
		dest = readz() // SOCKS4a: a host name follows the user id
	}
	p.mu.Lock()
	p.asked = append(p.asked, dest+":"+strconv.Itoa(int(head[2])<<8|int(head[3]))+" user="+user)
	p.mu.Unlock()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_, _ = c.Write([]byte{0, 91, 0, 0, 0, 0, 0, 0})
		return
	}
	defer up.Close()
	_, _ = c.Write([]byte{0, 90, 0, 0, 0, 0, 0, 0})
	go func() { _, _ = io.Copy(up, c) }()
	_, _ = io.Copy(c, up)
}

// SOCKS4 and SOCKS4a proxies are used, as the Rust library uses them
// (the Go module refused them before): socks4:// sends the endpoint's
// IPv4 address, resolved here; socks4a:// sends the host name for the
// proxy to resolve; socks:// means SOCKS5.
func TestSocks4ProxiesCarryTheBatch(t *testing.T) {
	var got []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Host+" "+string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, c := range []struct {
		scheme, endpointHost, wantAsked string
	}{
		{"socks4", "localhost", "127.0.0.1:" + port + " user="},
		{"SOCKS4A", "collector.invalid", "collector.invalid:" + port + " user="},
	} {
		proxy := startSocks4Proxy(t, srv.Listener.Addr().String())
		endpoint := "http://" + c.endpointHost + ":" + port + BatchPath
		s := resolveSettings(Options{Name: "demo", EnvPrefix: "DEMO"}, envFrom([]string{"ALL_PROXY=" + c.scheme + "://" + proxy.ln.Addr().String()}), Paths{})
		if u, why := s.proxyURL(endpoint); u == nil || why != "" {
			t.Fatalf("%s: refused: %s", c.scheme, why)
		}
		status, _, _, err := post(context.Background(), s, endpoint, []byte(`{"batch":"`+c.scheme+`"}`))
		if err != nil || status != http.StatusNoContent {
			t.Fatalf("%s: status %d, %v", c.scheme, status, err)
		}
		proxy.mu.Lock()
		asked := strings.Join(proxy.asked, ",")
		proxy.mu.Unlock()
		if asked != c.wantAsked {
			t.Errorf("%s: the proxy was asked for %q, want %q", c.scheme, asked, c.wantAsked)
		}
	}
	if len(got) != 2 || !strings.Contains(got[1], "collector.invalid") {
		t.Fatalf("the receiver got %q", got)
	}

	// A proxy that refuses: the send fails, it never goes direct.
	refusing := startSocks4Proxy(t, "127.0.0.1:1")
	s := resolveSettings(Options{Name: "demo", EnvPrefix: "DEMO"}, envFrom([]string{"HTTP_PROXY=socks4a://" + refusing.ln.Addr().String()}), Paths{})
	if _, _, _, err := post(context.Background(), s, srv.URL+BatchPath, []byte("{}")); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("a refusing proxy: %v", err)
	}
	if len(got) != 2 {
		t.Fatal("the batch went around the proxy")
	}
	s = resolveSettings(Options{Name: "demo", EnvPrefix: "DEMO"}, envFrom([]string{"ALL_PROXY=socks://proxy.corp:1080"}), Paths{})
	if u, why := s.proxyURL("https://t.example.com/v1/batch"); u == nil || u.Scheme != "socks5" || why != "" {
		t.Fatalf("socks:// is SOCKS5: %v %q", u, why)
	}
}
