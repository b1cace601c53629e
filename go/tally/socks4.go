package tally

// SOCKS4 and SOCKS4a, which net/http does not speak (it speaks SOCKS5), as
// the Rust library's transport does them: CONNECT with an empty user id;
// socks4:// resolves the endpoint's host here and sends its IPv4 address,
// socks4a:// sends the host name for the proxy to resolve. A user name in
// the proxy URL is not used (SOCKS4 has no passwords).

import (
	"context"
	"errors"
	"net"
	neturl "net/url"
	"strconv"
	"time"
)

// socks4Dial returns a DialContext that reaches addr through the SOCKS4
// proxy at proxy (HOST:PORT); with hostnames (socks4a) the proxy resolves
// names.
func socks4Dial(proxy string, hostnames bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, portText, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil {
			return nil, errors.New("socks4: bad port in " + addr)
		}
		req := []byte{4, 1, byte(port >> 8), byte(port)}
		ip := net.ParseIP(host)
		switch {
		case ip != nil && ip.To4() == nil:
			return nil, errors.New("socks4: SOCKS4 does not support IPv6 (" + host + ")")
		case ip != nil:
			req = append(append(req, ip.To4()...), 0)
		case hostnames:
			// 0.0.0.1 tells the proxy a host name follows the user id.
			req = append(append(append(req, 0, 0, 0, 1, 0), host...), 0)
		default:
			ips, err := net.DefaultResolver.LookupIP(ctx, "ip4", host)
			if err != nil {
				return nil, err
			}
			if len(ips) == 0 {
				return nil, errors.New("socks4: no IPv4 address for " + host)
			}
			req = append(append(req, ips[0].To4()...), 0)
		}
		conn, err := (&net.Dialer{Timeout: connectTimeout}).DialContext(ctx, "tcp", proxy)
		if err != nil {
			return nil, err
		}
		deadline := time.Now().Add(connectTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		_ = conn.SetDeadline(deadline)
		reply := make([]byte, 8)
		if _, err = conn.Write(req); err == nil {
			_, err = readFull(conn, reply)
		}
		if err == nil {
			err = socks4Reply(reply)
		}
		if err != nil {
			conn.Close()
			return nil, err
		}
		_ = conn.SetDeadline(time.Time{})
		return conn, nil
	}
}

// socks4Reply reads the proxy's answer: version 0, then the status.
func socks4Reply(r []byte) error {
	if r[0] != 0 {
		return errors.New("socks4: invalid response version")
	}
	switch r[1] {
	case 90:
		return nil
	case 91:
		return errors.New("socks4: request rejected or failed")
	case 92, 93:
		return errors.New("socks4: request rejected: the proxy could not confirm the user id (identd)")
	}
	return errors.New("socks4: invalid response code")
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// socks4Addr is the proxy's HOST:PORT, port 1080 when the URL has none.
func socks4Addr(u *neturl.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "1080")
}
