//go:build unix

package e2e

// End-to-end tests: the real Caddy binary with this plugin, built once in
// TestMain, in front of a real backend (httptest) through reverse_proxy,
// driven over HTTP, through the admin API and with the CLI verbs. Every
// Caddy process gets its own ports (site and admin), HOME, XDG directories
// and bolt file, so the tests run in parallel without sharing state.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy/redisstore/redistest"
)

const (
	modulePath   = "github.com/anonaccess/caddy-anonymous-access"
	cookiePrefix = "__Host-anon_"
	marketEntry  = "/dashboards/market.html"
	salesEntry   = "/reports/sales/index.html"
	opsEntry     = "/ops/index.html"
	e2eTenant    = "e2e"
)

// caddyBin is the Caddy build with this plugin, shared by every test.
var caddyBin string

// pluginRoot is the directory of the plugin's module (the repository
// root): the binary is built there, with the plugin's own go.mod, and
// screenshots go under it.
var pluginRoot string

// adminClient talks to admin endpoints and probes readiness. It keeps no
// connection open to a process that a test is about to stop.
var adminClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func TestMain(m *testing.M) {
	os.Exit(runWithCaddy(m))
}

func runWithCaddy(m *testing.M) int {
	dir, err := os.MkdirTemp("", "anon-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := moduleDir(modulePath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: finding the plugin's module:", err)
		return 1
	}
	bin := filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", bin, modulePath+"/xcaddy")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building caddy: %v\n%s", err, out)
		return 1
	}
	caddyBin, pluginRoot = bin, root
	return m.Run()
}

// moduleDir is where the module path's source is, as this module's
// go.mod resolves it: the replace directive makes it the repository
// root, so the tests run the plugin as it is in the working tree.
func moduleDir(path string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", path).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", path, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("go list -m %s: no directory", path)
	}
	return dir, nil
}

// ---------------------------------------------------------------------------
// Ports and clients

var clientSeq atomic.Uint32

// freePort returns a port no other server of this test binary gets.
func freePort(t *testing.T) int { return redistest.FreePort(t) }

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
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
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
