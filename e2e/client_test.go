//go:build unix

package e2e

// HTTP clients with their own loopback addresses, raw requests, and the
// checks of a reply's status and error body.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clientSeq numbers the clients: each gets a loopback address of its own.
var clientSeq atomic.Uint32

// client is an HTTP client with its own loopback source address, so that
// the gateway sees it as a distinct client IP (the failure rate limit is
// per client). It never follows redirects and keeps no cookie jar: the
// session cookie is Secure, so tests carry it by hand.
type client struct {
	ip string
	hc *http.Client
}

func newClient(t *testing.T) *client {
	n := clientSeq.Add(1)
	ip := fmt.Sprintf("127.0.%d.%d", 10+n/250, 1+n%250)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		MaxIdleConnsPerHost:   256,
		DisableCompression:    true,
		ResponseHeaderTimeout: 20 * time.Second,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{ip: ip, hc: &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// reply is a response read in full.
type reply struct {
	Status int
	Proto  string // HTTP/1.1, HTTP/2.0
	Header http.Header
	Body   []byte
}

func (c *client) send(method, rawURL string, hdr http.Header, body string) (reply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		return reply{}, err
	}
	for k, v := range hdr {
		req.Header[k] = v // as given: some tests send non-canonical names
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{Status: resp.StatusCode, Proto: resp.Proto, Header: resp.Header, Body: b}, err
}

func (c *client) do(t *testing.T, method, rawURL string, hdr http.Header, body string) reply {
	t.Helper()
	r, err := c.send(method, rawURL, hdr, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	return r
}

// rawRequest sends a request line exactly as given, so that no client
// library cleans or re-encodes the path.
func rawRequest(t *testing.T, addr, method, target string, hdr map[string]string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, addr)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("Connection: close\r\n\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// all sends n requests at once, from n goroutines released together, and
// returns every reply and error by index.
func all(n int, send func(i int) (reply, error)) ([]reply, []error) {
	results := make([]reply, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = send(i)
		}()
	}
	close(start)
	wg.Wait()
	return results, errs
}

func acceptHeader(html bool) http.Header {
	if html {
		return http.Header{"Accept": {"text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}}
	}
	return http.Header{"Accept": {"application/json"}}
}

func mergeHeaders(hs ...http.Header) http.Header {
	out := http.Header{}
	for _, h := range hs {
		for k, v := range h {
			out[k] = append(out[k], v...)
		}
	}
	return out
}

func wantStatus(t *testing.T, what string, r reply, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.Status, want, r.Body)
	}
}

// wantErrorBody checks the error shape: JSON {"error": code, "message":
// text} for API clients, an HTML page for browsers.
func wantErrorBody(t *testing.T, what string, r reply, html bool) {
	t.Helper()
	ct := r.Header.Get("Content-Type")
	if html {
		if !strings.HasPrefix(ct, "text/html") || !bytes.Contains(bytes.ToLower(r.Body), []byte("<html")) {
			t.Errorf("%s: want an HTML page, got %q %.80s", what, ct, r.Body)
		}
		return
	}
	var body map[string]any
	if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(r.Body, &body) != nil {
		t.Errorf("%s: want JSON, got %q %s", what, ct, r.Body)
		return
	}
	code, _ := body["error"].(string)
	msg, _ := body["message"].(string)
	if code == "" || msg == "" || len(body) != 2 {
		t.Errorf(`%s: want {"error": "...", "message": "..."}, got %s`, what, r.Body)
	}
}

func retryAfter(t *testing.T, r reply) int {
	t.Helper()
	v := r.Header.Get("Retry-After")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 24*3600 {
		t.Errorf("Retry-After = %q, want a number of seconds", v)
	}
	return n
}

// errorCode is the "error" of a JSON error body: the refusal's code.
func errorCode(r reply) string {
	var body struct{ Error string }
	_ = json.Unmarshal(r.Body, &body)
	return body.Error
}

// waitUntil polls cond until it reports true or deadline passes, then fails
// with cond's last account of what it saw. A success counts only if its
// attempt began by the deadline. It returns how long it took.
func waitUntil(t *testing.T, deadline time.Time, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		began := time.Now()
		ok, saw := cond()
		switch {
		case ok && !began.After(deadline):
			return time.Since(start)
		case ok:
			t.Fatalf("%s: only so after %v, past the deadline", what, time.Since(start).Round(time.Millisecond))
		case time.Now().After(deadline):
			t.Fatalf("%s: not so after %v; last saw %s", what, time.Since(start).Round(time.Millisecond), saw)
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}
