package tally

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Sender bounds: 1 s to connect, 2 s per request, at most 4 batches of
// at most 250 lines per delivery.
const (
	connectTimeout = time.Second
	requestTimeout = 2 * time.Second
	maxBatches     = 4
	maxLines       = 250
)

// endpointScheme returns "http" or "https" for such a URL, else "".
func endpointScheme(url string) string {
	i := strings.Index(strings.TrimSpace(url), "://")
	if i < 0 {
		return ""
	}
	switch strings.ToLower(strings.TrimSpace(url)[:i]) {
	case "https":
		return "https"
	case "http":
		return "http"
	}
	return ""
}

func normalizeEndpoint(url string) string {
	url = strings.TrimSpace(url)
	if s := endpointScheme(url); s != "" {
		return s + url[strings.Index(url, "://"):]
	}
	return url
}

func hostOf(url string) string {
	i := strings.Index(url, "://")
	if i < 0 {
		return ""
	}
	rest := url[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	if j := strings.LastIndexByte(rest, '@'); j >= 0 {
		rest = rest[j+1:]
	}
	if strings.HasPrefix(rest, "[") {
		if j := strings.IndexByte(rest, ']'); j >= 0 {
			return rest[1:j]
		}
	}
	if j := strings.IndexByte(rest, ':'); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func isLoopbackHost(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// redactURL replaces the credentials of every URL in text with ***.
func redactURL(text string) string {
	var out strings.Builder
	for {
		i := strings.Index(text, "://")
		if i < 0 {
			break
		}
		out.WriteString(text[:i+3])
		tail := text[i+3:]
		end := strings.IndexFunc(tail, func(r rune) bool {
			return strings.ContainsRune("/?#\"'> \t\n", r)
		})
		if end < 0 {
			end = len(tail)
		}
		auth := tail[:end]
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			out.WriteString("***" + auth[at:])
		} else {
			out.WriteString(auth)
		}
		text = tail[end:]
	}
	out.WriteString(text)
	return out.String()
}

// transportProblem says why the endpoint cannot be used, if it cannot.
func (s *settings) transportProblem() string {
	if s.endpoint == "" {
		return ""
	}
	shown := redactURL(s.endpoint)
	switch endpointScheme(s.endpoint) {
	case "":
		return fmt.Sprintf("the endpoint %q (from %s) is not an http:// or https:// URL, so nothing is sent; set an https:// URL", shown, s.endpointBy)
	case "http":
		if !(s.policy.Kind == PolicyLoaded && s.policy.AllowPlainHTTP) && !isLoopbackHost(hostOf(s.endpoint)) {
			return fmt.Sprintf("the endpoint %s (from %s) is plain http:// to another machine, so the data would travel unencrypted; nothing is sent unless the system policy file sets allow_plain_http = true. Use an https:// URL", shown, s.endpointBy)
		}
	}
	_, why := s.proxyURL(normalizeEndpoint(s.endpoint))
	return why
}

// sendGate returns why nothing can be sent now, or "".
func (s *settings) sendGate() string {
	_, why := s.sendGateWord()
	return why
}

// sendGateWord is sendGate with the word `telemetry flush` reports (the
// Rust library's: disabled, no_endpoint, not_sent, no_state_dir,
// notice_pending).
func (s *settings) sendGateWord() (word, why string) {
	switch {
	case !s.consent.Enabled:
		return "disabled", "telemetry is off: " + s.consent.Reason
	case s.endpoint == "" && !s.debug:
		return "no_endpoint", "no endpoint is configured"
	case !s.debug && s.transportProblem() != "":
		return "not_sent", s.transportProblem()
	case s.paths.StateDir == "":
		return "no_state_dir", "no state directory is known"
	case s.noticeBlocksSending():
		return "notice_pending", "the notice has not been shown in an earlier run yet"
	}
	return "", ""
}

func (s *settings) machineID(d stateDir) (string, error) {
	if s.instanceID != "" {
		return s.instanceID, nil
	}
	return d.currentID(rotationPeriod(s.rotation, s.clock.now()))
}

// batchPeriod names the rotation period of a spool day ("" when the id
// never rotates): one period's days per batch.
func (s *settings) batchPeriod(day string) string {
	t, err := time.Parse("2006-01-02", day)
	if err != nil {
		return ""
	}
	return rotationPeriod(s.rotation, t)
}

// batchMachineID is the id a batch of lines (all of one period) is sent
// under: that period's id, not the id of the period the send happens in.
func (s *settings) batchMachineID(d stateDir, lines []spoolLine) (string, error) {
	if s.instanceID != "" || len(lines) == 0 {
		return s.machineID(d)
	}
	return d.idForDay(s.batchPeriod(lines[0].Day), rotationPeriod(s.rotation, s.clock.now()))
}

func (s *settings) buildBatch(machine, batchID string, lines []spoolLine) batch {
	return batch{envelope: Envelope{App: s.opts.Name, AppVersion: s.opts.Version, OS: schemaOS(), Arch: schemaArch(),
		CI: s.ci != "", Schema: SchemaVersion, MachineID: machine, BatchID: batchID}, events: eventsFrom(lines)}
}

// SendResult is what one delivery did.
type SendResult struct {
	// Sent lists the batches that reached the receiver.
	Sent []LedgerEntry
	// Skipped says why nothing was attempted, if nothing was.
	Skipped string
	// Result is the word `telemetry flush --json` reports, the Rust
	// library's: sent (batches were answered, rejections included),
	// nothing_due, disabled, no_endpoint, not_sent, no_state_dir,
	// notice_pending, backed_off, busy, printed or failed.
	Result string
}

// ExitCode is the exit code of `telemetry flush` after r and err, the Rust
// library's: 1 when the send failed or could not be attempted, else 0.
func (r SendResult) ExitCode(err error) int {
	if err != nil {
		return 1
	}
	switch r.Result {
	case "failed", "not_sent", "no_state_dir", "notice_pending", "disabled", "no_endpoint":
		return 1
	}
	return 0
}

// send delivers the claimed or completed days: background mode respects
// the backoff and never waits for the send lock; held is a lock already
// taken (the helper's inherited one).
func (s *settings) send(ctx context.Context, background bool, held *os.File) (SendResult, error) {
	if word, why := s.sendGateWord(); why != "" {
		return SendResult{Skipped: why, Result: word}, nil
	}
	d := stateDir(s.paths.StateDir)
	now := s.clock.now().Unix()
	if background {
		if b := d.readBackoff(); b != nil && b.Until > now {
			return SendResult{Skipped: "backing off after a failed send until " + time.Unix(b.Until, 0).UTC().Format(time.RFC3339), Result: "backed_off"}, nil
		}
	}
	today := s.clock.today()
	sp := spool{string(d)}
	if s.debug {
		release, err := sp.lock()
		if err != nil {
			return SendResult{}, err
		}
		lines, _, err := sp.read()
		release()
		if err != nil {
			return SendResult{}, err
		}
		id, out := peekOutgoing(lines, today, maxLines, s.batchPeriod)
		if len(out) == 0 {
			return SendResult{Skipped: "nothing is due", Result: "nothing_due"}, nil
		}
		if id == "" {
			id = newUUID()
		}
		m, _ := s.batchMachineID(d, out)
		b := s.buildBatch(m, id, out)
		body := b.encode()
		fmt.Fprintf(os.Stderr, "[%s telemetry debug] would POST to %s: %s\n", s.opts.Name, redactURL(s.endpoint), body)
		return SendResult{Skipped: "debug mode: printed, not sent", Result: "printed"}, nil
	}
	if held == nil {
		if err := ensurePrivateDir(string(d)); err != nil {
			return SendResult{}, err
		}
		f, err := openChecked(d.file(fileSendLock), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return SendResult{}, err
		}
		defer f.Close()
		ok := tryLock(f)
		if !ok && !background {
			ok = lockWait(f, 5*time.Second)
		}
		if !ok {
			return SendResult{Skipped: "another process is sending", Result: "busy"}, nil
		}
		defer unlock(f)
	}
	if background {
		d.beginAttempt(now)
	}
	endpoint := normalizeEndpoint(s.endpoint)
	shown := redactURL(endpoint)
	var res SendResult
	fail := func(msg string) (SendResult, error) {
		msg = redactURL(msg)
		d.noteError(s.clock.instant(), msg)
		if s.debug {
			fmt.Fprintf(os.Stderr, "[%s telemetry] %s\n", s.opts.Name, msg)
		}
		res.Result = "failed"
		return res, errors.New(msg)
	}
	for i := 0; i < maxBatches; i++ {
		release, err := sp.lock()
		if err != nil {
			return fail(err.Error())
		}
		id, lines, err := sp.claim(today, maxLines, s.batchPeriod)
		release()
		if err != nil {
			return fail(err.Error())
		}
		if id == "" {
			break
		}
		m, err := s.batchMachineID(d, lines)
		if err != nil {
			return fail(err.Error())
		}
		batch := s.buildBatch(m, id, lines)
		body := batch.encode()
		entry := func(result string, status int) LedgerEntry {
			return LedgerEntry{At: s.clock.instant(), BatchID: id, Result: result, Status: status,
				Bytes: len(body), Events: len(batch.events), Endpoint: shown}
		}
		finish := func(e LedgerEntry) {
			if release, err := sp.lock(); err == nil {
				_ = sp.release(id)
				release()
			}
			d.ledgerAppend(e)
		}
		if len(batch.events) == 0 {
			finish(entry("empty", 0))
			continue
		}
		// Consent may have been withdrawn since this process started.
		if !s.reresolve().consent.Enabled {
			d.endAttempt()
			return SendResult{Sent: res.Sent, Skipped: "telemetry was turned off", Result: "disabled"}, nil
		}
		status, retryAfter, location, err := post(ctx, s, endpoint, body)
		switch {
		case err != nil:
			d.recordFailure(now, 0)
			return fail(fmt.Sprintf("sending to %s failed: %v", shown, err))
		case status >= 200 && status < 300:
			e := entry("sent", status)
			finish(e)
			_, _ = removeIfExists(d.file(fileBackoff))
			_, _ = removeIfExists(d.file(fileLastError))
			res.Sent = append(res.Sent, e)
		case status >= 300 && status < 400:
			d.recordFailure(now, 0)
			to := ""
			if location != "" {
				to = " to " + redactURL(location)
			}
			return fail(fmt.Sprintf("%s answered HTTP %d, a redirect%s; tally does not follow redirects, so the batch stays queued. Set the endpoint to the final URL", shown, status, to))
		case status == 408 || status == 429 || status >= 500:
			d.recordFailure(now, retryAfter)
			return fail(fmt.Sprintf("%s answered HTTP %d; will retry later", shown, status))
		default:
			e := entry("rejected", status)
			finish(e)
			d.noteError(e.At, fmt.Sprintf("%s rejected batch %s with HTTP %d; it was dropped", shown, id, status))
			res.Sent = append(res.Sent, e)
		}
	}
	if background {
		anySent := false
		for _, e := range res.Sent {
			anySent = anySent || e.Result == "sent"
		}
		if !anySent {
			d.endAttempt()
		}
	}
	if len(res.Sent) == 0 {
		res.Skipped, res.Result = "nothing is due", "nothing_due"
	} else {
		res.Result = "sent"
	}
	return res, nil
}

func post(ctx context.Context, s *settings, url string, body []byte) (status int, retryAfter uint64, location string, err error) {
	// The proxy as the Rust library picks it, from the settings'
	// environment (never http.ProxyFromEnvironment's process environment,
	// which also skips loopback and ALL_PROXY).
	proxyURL, why := s.proxyURL(url)
	if why != "" {
		return 0, 0, "", errors.New(why)
	}
	tr := &http.Transport{
		Proxy:                 func(*http.Request) (*neturl.URL, error) { return proxyURL, nil },
		DialContext:           (&net.Dialer{Timeout: connectTimeout}).DialContext,
		TLSHandshakeTimeout:   connectTimeout,
		ResponseHeaderTimeout: requestTimeout,
		DisableKeepAlives:     true,
	}
	if proxyURL != nil && (proxyURL.Scheme == "socks4" || proxyURL.Scheme == "socks4a") {
		// net/http has no SOCKS4: the dialer goes through the proxy.
		tr.Proxy = nil
		tr.DialContext = socks4Dial(socks4Addr(proxyURL), proxyURL.Scheme == "socks4a")
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		Timeout:       requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tally-go/"+ModuleVersion)
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64*1024))
	ra, _ := strconv.ParseUint(strings.TrimSpace(resp.Header.Get("Retry-After")), 10, 64)
	loc := resp.Header.Get("Location")
	if len(loc) > 200 {
		loc = loc[:200]
	}
	return resp.StatusCode, ra, loc, nil
}

// ModuleVersion is this module's version, sent in the User-Agent.
const ModuleVersion = "0.1.0"
