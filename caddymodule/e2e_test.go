//go:build unix

package caddymodule_test

// End-to-end tests: the real Caddy binary with this plugin, built once in
// TestMain, in front of a real backend (httptest) through reverse_proxy,
// driven over HTTP, through the admin API and with the CLI verbs. Every
// Caddy process gets its own ports (site and admin), HOME, XDG directories
// and bolt file, so the tests run in parallel without sharing state.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"
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
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: finding the module root:", err)
		return 1
	}
	bin := filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", bin, modulePath+"/xcaddy")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building caddy: %v\n%s", err, out)
		return 1
	}
	caddyBin = bin
	return m.Run()
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			return filepath.Dir(gomod), nil
		}
	}
	return filepath.Abs("..")
}

// ---------------------------------------------------------------------------
// Ports and clients

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
	clientSeq atomic.Uint32
)

// freePort returns a port to listen on, never the same twice in this run:
// Caddy binds with SO_REUSEPORT, so a reused port would silently split
// traffic between two processes. Ports are taken below the kernel's
// ephemeral range: a port picked with Listen(":0") comes from that range
// and can be handed to an outgoing connection (these tests make many)
// before Caddy binds it, which fails the bind.
func freePort(t *testing.T) int {
	t.Helper()
	lo, hi := ephemeralBelow()
	for range 1000 {
		port := lo + rand.IntN(hi-lo)
		portsMu.Lock()
		used := portsUsed[port]
		portsUsed[port] = true
		portsMu.Unlock()
		if used {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free port")
	return 0
}

// ephemeralBelow returns a range of ports under the ephemeral range.
func ephemeralBelow() (lo, hi int) {
	hi = 32768 // Linux's default start of the ephemeral range
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 4096 {
				hi = n
			}
		}
	}
	return max(1024, hi-12000), hi
}

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

// ---------------------------------------------------------------------------
// The backend

// seenRequest is one request as the backend received it.
type seenRequest struct {
	Method     string
	RequestURI string
	Path       string
	RawQuery   string
	Header     http.Header
	Body       string
}

// backend is the real upstream behind reverse_proxy. It records every
// request and answers "backend <method> <path>".
type backend struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

func newBackend(t *testing.T) *backend {
	b := &backend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Recorded on arrival, so that a request whose body never
		// completes still counts as having reached the backend.
		b.mu.Lock()
		i := len(b.seen)
		b.seen = append(b.seen, seenRequest{
			Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Header: r.Header.Clone(),
		})
		b.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.seen[i].Body = string(body)
		b.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "backend %s %s", r.Method, r.URL.Path)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) addr() string { return strings.TrimPrefix(b.srv.URL, "http://") }

func (b *backend) requests() []seenRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seenRequest(nil), b.seen...)
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

func (b *backend) last(t *testing.T) seenRequest {
	t.Helper()
	all := b.requests()
	if len(all) == 0 {
		t.Fatal("the backend saw no request")
	}
	return all[len(all)-1]
}

// ---------------------------------------------------------------------------
// A Caddy process

// gatewayConfig is what varies in testdata/e2e/Caddyfile.tmpl.
type gatewayConfig struct {
	Capacity int
	// SessionTTL overrides session_ttl when set.
	SessionTTL string
	// Debug logs at DEBUG level to stderr.
	Debug bool
	// AccessLog writes an access log next to the state file.
	AccessLog bool
	// WithoutOps leaves the ops app out.
	WithoutOps bool
	// ExtraScope is appended to the market app's scope.
	ExtraScope string
	// BrokenTransport names a missing client certificate, which makes
	// reverse_proxy fail to provision after anonymous_access did.
	BrokenTransport string
}

type caddyfileData struct {
	gatewayConfig
	Admin, Site, Backend, Bolt, AccessLog string
}

var caddyfileTemplate = sync.OnceValues(func() (*template.Template, error) {
	return template.ParseFiles(filepath.Join("testdata", "e2e", "Caddyfile.tmpl"))
})

// gateway is one running Caddy process.
type gateway struct {
	dir       string
	cfg       gatewayConfig
	backend   *backend
	admin     string
	site      string
	caddyfile string
	bolt      string
	accessLog string

	cmd      *exec.Cmd
	stdout   syncBuffer
	stderr   syncBuffer
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// startGateway runs Caddy with state under dir (HOME, XDG directories,
// bolt file), on fresh ports, and waits until it serves.
func startGateway(t *testing.T, dir string, be *backend, cfg gatewayConfig) *gateway {
	t.Helper()
	if cfg.Capacity == 0 {
		cfg.Capacity = 100
	}
	g := &gateway{
		dir:       dir,
		cfg:       cfg,
		backend:   be,
		admin:     fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		site:      fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		caddyfile: filepath.Join(dir, "Caddyfile"),
		bolt:      filepath.Join(dir, "state.db"),
		exited:    make(chan struct{}),
	}
	if cfg.AccessLog {
		g.accessLog = filepath.Join(dir, "access.log")
	}
	for _, d := range []string{"home", "data", "config"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.writeCaddyfile(cfg); err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(caddyBin, "run", "--config", g.caddyfile)
	g.cmd.Dir = dir
	g.cmd.Env = g.env()
	g.cmd.Stdout = &g.stdout
	g.cmd.Stderr = &g.stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		g.waitErr = g.cmd.Wait()
		close(g.exited)
	}()
	t.Cleanup(func() {
		if err := g.stop(); err != nil {
			t.Errorf("stopping caddy: %v\n%s", err, g.stderr.String())
		}
	})
	g.waitReady(t)
	return g
}

func (g *gateway) writeCaddyfile(cfg gatewayConfig) error {
	tmpl, err := caddyfileTemplate()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	err = tmpl.Execute(&buf, caddyfileData{
		gatewayConfig: cfg, Admin: g.admin, Site: g.site, Backend: g.backend.addr(),
		Bolt: g.bolt, AccessLog: g.accessLog,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(g.caddyfile, buf.Bytes(), 0o600)
}

// env is the environment of this gateway's processes (server and CLI):
// its own HOME and XDG directories, no proxies.
func (g *gateway) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+filepath.Join(g.dir, "home"),
		"XDG_DATA_HOME="+filepath.Join(g.dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(g.dir, "config"),
	)
}

// waitReady polls until the admin endpoint serves this process's config
// (its bolt path proves it is ours) and the site answers the landing page.
func (g *gateway) waitReady(t *testing.T) {
	t.Helper()
	ready := func() bool {
		resp, err := adminClient.Get("http://" + g.admin + "/config/")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(g.bolt)) {
			return false
		}
		resp, err = adminClient.Get("http://" + g.site + "/_anon/open/probe")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			t.Fatalf("caddy not ready after 30s\n%s", g.stderr.String())
		}
		select {
		case <-g.exited:
			t.Fatalf("caddy exited before it was ready: %v\n%s", g.waitErr, g.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop ends the process gracefully (SIGTERM, so the store flushes) and
// waits for it. It reports a process that had to be killed or that exited
// with an error.
func (g *gateway) stop() error {
	var err error
	g.stopOnce.Do(func() {
		select {
		case <-g.exited:
			err = fmt.Errorf("caddy had already exited: %v", g.waitErr)
			return
		default:
		}
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
			err = g.waitErr
		case <-time.After(20 * time.Second):
			_ = g.cmd.Process.Kill()
			<-g.exited
			err = errors.New("caddy did not stop within 20s of SIGTERM")
		}
	})
	return err
}

func (g *gateway) url(path string) string { return "http://" + g.site + path }

// cli runs `caddy anonymous-access <args> --address <admin>`.
func (g *gateway) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append(append([]string{"anonymous-access"}, args...), "--address", g.admin)
	cmd := exec.CommandContext(ctx, caddyBin, argv...)
	cmd.Dir = g.dir
	cmd.Env = g.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("caddy %s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (g *gateway) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := g.cli(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// link runs the link verb, checks the link's shape (the code only in the
// fragment) and returns the access code.
func (g *gateway) link(t *testing.T, app string) string {
	t.Helper()
	out := g.mustCLI(t, "link", app)
	line := strings.TrimSuffix(out, "\n")
	if strings.Contains(line, "\n") {
		t.Fatalf("link printed more than one line: %q", out)
	}
	u, err := url.Parse(line)
	if err != nil {
		t.Fatalf("link %q: %v", line, err)
	}
	if want := "http://" + g.site + "/_anon/open/" + app; u.Scheme+"://"+u.Host+u.Path != want || u.RawQuery != "" {
		t.Fatalf("link = %q, want %s#code=...", line, want)
	}
	frag, err := url.ParseQuery(u.Fragment)
	if err != nil || frag.Get("code") == "" {
		t.Fatalf("link %q has no code in its fragment", line)
	}
	return frag.Get("code")
}

// reload writes cfg to the Caddyfile and runs `caddy reload`.
func (g *gateway) reload(cfg gatewayConfig) error {
	if err := g.writeCaddyfile(cfg); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, caddyBin, "reload", "--config", g.caddyfile, "--address", g.admin)
	cmd.Dir = g.dir
	cmd.Env = g.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("caddy reload: %v\n%s", err, out)
	}
	g.cfg = cfg
	return nil
}

// adminGet fetches a path of the admin endpoint.
func (g *gateway) adminGet(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := adminClient.Get("http://" + g.admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET admin %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// capacityReport is the JSON of the capacity admin route.
type capacityReport struct {
	Tenant   string         `json:"tenant"`
	Capacity int            `json:"capacity"`
	Active   int            `json:"active"`
	Peak     int            `json:"peak"`
	PerApp   map[string]int `json:"per_app"`
}

func (g *gateway) capacity(t *testing.T) capacityReport {
	t.Helper()
	var rep capacityReport
	if b := g.adminGet(t, "/anonymous-access/capacity"); json.Unmarshal(b, &rep) != nil {
		t.Fatalf("capacity: %s", b)
	}
	return rep
}

// appState is the part of an app object the tests look at.
type appState struct {
	ID              string   `json:"id"`
	Scope           []string `json:"scope"`
	AnonymousAccess bool     `json:"anonymous_access"`
}

func (g *gateway) apps(t *testing.T) map[string]appState {
	t.Helper()
	var list []appState
	if b := g.adminGet(t, "/anonymous-access/apps"); json.Unmarshal(b, &list) != nil {
		t.Fatalf("apps: %s", b)
	}
	out := map[string]appState{}
	for _, a := range list {
		out[a.ID] = a
	}
	return out
}

// ---------------------------------------------------------------------------
// Sessions

// session is a started anonymous session as its holder sees it.
type session struct {
	app    string
	cookie *http.Cookie
	token  string
	jti    string
}

func (s session) cookieHeader() http.Header {
	return http.Header{"Cookie": {s.cookie.Name + "=" + s.cookie.Value}}
}

// redeem sends a code the way a script does (POST form) or the way a
// plain link does (GET query).
func (g *gateway) redeem(t *testing.T, c *client, method, app string, form url.Values) reply {
	t.Helper()
	target := g.url("/_anon/open/" + app)
	if method == http.MethodGet {
		return c.do(t, method, target+"?"+form.Encode(), nil, "")
	}
	return c.do(t, method, target, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form.Encode())
}

// open redeems a code by POST and returns the session.
func (g *gateway) open(t *testing.T, c *client, app, code string) session {
	t.Helper()
	r := g.redeem(t, c, http.MethodPost, app, url.Values{"code": {code}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("opening %s: %d %s", app, r.Status, r.Body)
	}
	return sessionFrom(t, app, r)
}

func sessionFrom(t *testing.T, app string, r reply) session {
	t.Helper()
	lines := r.Header.Values("Set-Cookie")
	if len(lines) != 1 {
		t.Fatalf("want one Set-Cookie, got %q", lines)
	}
	ck, err := http.ParseSetCookie(lines[0])
	if err != nil {
		t.Fatalf("Set-Cookie %q: %v", lines[0], err)
	}
	if ck.Name != cookiePrefix+app {
		t.Fatalf("cookie name %q, want %q", ck.Name, cookiePrefix+app)
	}
	return session{app: app, cookie: ck, token: ck.Value, jti: tokenID(t, ck.Value)}
}

// tokenID reads the session id (jti) from a JWT's payload.
func tokenID(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("session token is not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var c struct {
		ID string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.ID == "" {
		t.Fatalf("JWT payload without jti: %s", payload)
	}
	return c.ID
}

// ---------------------------------------------------------------------------
// Metrics

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func (g *gateway) metrics(t *testing.T) (string, []sample) {
	t.Helper()
	text := string(g.adminGet(t, "/metrics"))
	return text, parseMetrics(t, text)
}

// parseMetrics reads the Prometheus text format.
func parseMetrics(t *testing.T, text string) []sample {
	t.Helper()
	var out []sample
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		i := strings.IndexAny(line, "{ ")
		if i < 0 {
			t.Fatalf("metrics line %q", line)
		}
		s.name, line = line[:i], line[i:]
		if line[0] == '{' {
			line = line[1:]
			for line[0] != '}' {
				eq := strings.IndexByte(line, '=')
				if eq < 0 || len(line) < eq+2 || line[eq+1] != '"' {
					t.Fatalf("metrics labels %q", line)
				}
				key := line[:eq]
				line = line[eq+2:]
				var val strings.Builder
				for line[0] != '"' {
					if line[0] == '\\' && len(line) > 1 {
						switch line[1] {
						case 'n':
							val.WriteByte('\n')
						default:
							val.WriteByte(line[1])
						}
						line = line[2:]
						continue
					}
					val.WriteByte(line[0])
					line = line[1:]
				}
				s.labels[key] = val.String()
				line = strings.TrimPrefix(line[1:], ",")
			}
			line = line[1:]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			t.Fatalf("metrics line without value: %q", s.name)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			t.Fatalf("metrics value %q: %v", fields[0], err)
		}
		s.value = v
		out = append(out, s)
	}
	return out
}

// metricValue sums the samples of name whose labels include want.
func metricValue(samples []sample, name string, want map[string]string) (float64, bool) {
	var sum float64
	found := false
	for _, s := range samples {
		if s.name != name {
			continue
		}
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
				break
			}
		}
		if match {
			sum += s.value
			found = true
		}
	}
	return sum, found
}

func wantMetric(t *testing.T, samples []sample, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := metricValue(samples, name, labels)
	if !ok {
		t.Errorf("metric %s%v missing", name, labels)
		return
	}
	if got != want {
		t.Errorf("metric %s%v = %v, want %v", name, labels, got, want)
	}
}

// ---------------------------------------------------------------------------
// Small helpers

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
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

func wantStatus(t *testing.T, what string, r reply, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.Status, want, r.Body)
	}
}

// wantErrorBody checks the error shape: JSON {"error": "..."} for API
// clients, an HTML page for browsers.
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
	if msg, ok := body["error"].(string); !ok || msg == "" || len(body) != 1 {
		t.Errorf(`%s: want {"error": "..."}, got %s`, what, r.Body)
	}
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

// ---------------------------------------------------------------------------
// 1. Opening a link

func TestE2EOpenLink(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	code := g.link(t, "market")
	c := newClient(t)

	t.Run("landing page is the same for every app id", func(t *testing.T) {
		var first []byte
		for _, app := range []string{"market", "no-such-app", "ops", "x", "%3Cscript%3E", "a/b", strings.Repeat("m", 100)} {
			r := c.do(t, http.MethodGet, g.url("/_anon/open/"+app), acceptHeader(true), "")
			wantStatus(t, "landing "+app, r, http.StatusOK)
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("landing %s: Content-Type %q", app, ct)
			}
			if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("landing %s: Cache-Control %q", app, cc)
			}
			if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("landing %s: Content-Security-Policy %q, want a strict one", app, csp)
			}
			if rp := r.Header.Get("Referrer-Policy"); rp != "no-referrer" {
				t.Errorf("landing %s: Referrer-Policy %q, want no-referrer", app, rp)
			}
			if len(r.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("landing %s sets a cookie", app)
			}
			if bytes.Contains(r.Body, []byte(code)) {
				t.Errorf("landing %s contains the access code", app)
			}
			if first == nil {
				first = r.Body
			} else if !bytes.Equal(first, r.Body) {
				t.Errorf("landing page for %q differs from the one for market", app)
			}
		}
		if len(first) == 0 {
			t.Error("empty landing page")
		}
	})

	redemptions := 0
	cases := []struct {
		name     string
		method   string
		extra    url.Values
		location string
		embed    bool
	}{
		{"POST link", http.MethodPost, nil, marketEntry, false},
		{"GET ?code= link", http.MethodGet, nil, marketEntry, false},
		{"POST embed", http.MethodPost, url.Values{"embed": {"1"}}, marketEntry, true},
		{"GET ?code= embed", http.MethodGet, url.Values{"embed": {"1"}}, marketEntry, true},
		{"POST object in scope", http.MethodPost, url.Values{"object": {"/dashboards/market-2024.html?region=eu"}}, "/dashboards/market-2024.html?region=eu", false},
		{"GET embed object in scope", http.MethodGet, url.Values{"embed": {"1"}, "object": {"/assets/chart.svg"}}, "/assets/chart.svg", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"code": {code}}
			for k, v := range tc.extra {
				form[k] = v
			}
			r := g.redeem(t, c, tc.method, "market", form)
			wantStatus(t, "redeem", r, http.StatusSeeOther)
			redemptions++
			loc := r.Header.Get("Location")
			if loc != tc.location {
				t.Errorf("Location = %q, want %q", loc, tc.location)
			}
			if u, err := url.Parse(loc); err != nil || strings.Contains(loc, code) || u.Query().Has("code") {
				t.Errorf("Location %q carries the code", loc)
			}
			if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if rp := r.Header.Get("Referrer-Policy"); rp != "no-referrer" {
				t.Errorf("Referrer-Policy = %q, want no-referrer", rp)
			}
			s := sessionFrom(t, "market", r)
			ck := s.cookie
			if !ck.HttpOnly || !ck.Secure || ck.Path != "/" || ck.Domain != "" {
				t.Errorf("cookie %q: want HttpOnly, Secure, Path=/ and no Domain", r.Header.Get("Set-Cookie"))
			}
			wantSameSite := http.SameSiteLaxMode
			if tc.embed {
				wantSameSite = http.SameSiteNoneMode
			}
			if ck.SameSite != wantSameSite || ck.Partitioned != tc.embed {
				t.Errorf("cookie %q: SameSite=%v Partitioned=%v, want SameSite=%v Partitioned=%v",
					r.Header.Get("Set-Cookie"), ck.SameSite, ck.Partitioned, wantSameSite, tc.embed)
			}
			if strings.Contains(ck.Value, code) {
				t.Error("the session token contains the access code")
			}

			got := c.do(t, http.MethodGet, g.url(loc), s.cookieHeader(), "")
			wantStatus(t, "GET "+loc+" with the session", got, http.StatusOK)
			wantCSP := "frame-ancestors 'self'"
			if tc.embed {
				wantCSP = "frame-ancestors 'self' http://embedder.example"
			}
			if csp := got.Header.Get("Content-Security-Policy"); csp != wantCSP {
				t.Errorf("Content-Security-Policy = %q, want %q", csp, wantCSP)
			}
			path, _, _ := strings.Cut(loc, "?")
			if want := "backend GET " + path; string(got.Body) != want {
				t.Errorf("body %q, want %q", got.Body, want)
			}
			if seen := be.last(t); seen.RequestURI != loc {
				t.Errorf("backend saw %q, want %q", seen.RequestURI, loc)
			}
		})
	}

	t.Run("object outside scope is refused", func(t *testing.T) {
		before := g.capacity(t).Active
		for _, obj := range []string{
			"/secret.html",
			"/assets/private/key.json", // denied
			opsEntry,                   // another app's scope
			"//evil.example/dashboards/market.html",
			"https://evil.example/",
			"/dashboards/../secret.html",
			"/dashboards/market.html#x",
			`\evil.example`,
			"javascript:alert(1)",
		} {
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				r := g.redeem(t, c, method, "market", url.Values{"code": {code}, "object": {obj}})
				if r.Status < 400 || r.Status >= 500 {
					t.Errorf("%s object=%q: status %d, want a 4xx refusal", method, obj, r.Status)
				}
				if r.Header.Get("Location") != "" || len(r.Header.Values("Set-Cookie")) != 0 {
					t.Errorf("%s object=%q: redirected or set a cookie", method, obj)
				}
			}
		}
		if after := g.capacity(t).Active; after != before {
			t.Errorf("refused objects took capacity: active %d -> %d", before, after)
		}
	})

	t.Run("embed-code verb", func(t *testing.T) {
		out := strings.TrimSpace(g.mustCLI(t, "embed-code", "market", "--object", "/assets/chart.svg"))
		if !strings.HasPrefix(out, "<iframe ") || !strings.Contains(out, `title="Market trends"`) {
			t.Fatalf("embed-code printed %q, want an iframe titled with the app name", out)
		}
		_, rest, _ := strings.Cut(out, `src="`)
		src, _, _ := strings.Cut(rest, `"`)
		u, err := url.Parse(strings.ReplaceAll(src, "&amp;", "&"))
		if err != nil || u.Path != "/_anon/open/market" || u.RawQuery != "" {
			t.Fatalf("embed-code src %q: want the open path with everything in the fragment", src)
		}
		frag, _ := url.ParseQuery(u.Fragment)
		if frag.Get("code") != code || frag.Get("embed") != "1" || frag.Get("object") != "/assets/chart.svg" {
			t.Fatalf("embed-code fragment %q, want code, embed=1 and the object", u.Fragment)
		}
		// What the landing page's script posts.
		r := g.redeem(t, c, http.MethodPost, "market", frag)
		wantStatus(t, "redeem the embed code", r, http.StatusSeeOther)
		redemptions++
		if loc := r.Header.Get("Location"); loc != "/assets/chart.svg" {
			t.Errorf("Location = %q, want the object", loc)
		}
		if ck := sessionFrom(t, "market", r).cookie; ck.SameSite != http.SameSiteNoneMode || !ck.Partitioned {
			t.Errorf("embed cookie %q: want SameSite=None; Partitioned", r.Header.Get("Set-Cookie"))
		}
	})

	t.Run("session info", func(t *testing.T) {
		s := g.open(t, c, "market", code)
		redemptions++
		r := c.do(t, http.MethodGet, g.url("/_anon/session"), s.cookieHeader(), "")
		wantStatus(t, "session info", r, http.StatusOK)
		var info struct {
			Sessions []struct {
				App       string    `json:"app"`
				ExpiresAt time.Time `json:"expires_at"`
			} `json:"sessions"`
		}
		if err := json.Unmarshal(r.Body, &info); err != nil {
			t.Fatalf("session info %s: %v", r.Body, err)
		}
		if len(info.Sessions) != 1 || info.Sessions[0].App != "market" {
			t.Fatalf("session info = %s, want one market session", r.Body)
		}
		if left := time.Until(info.Sessions[0].ExpiresAt); left < 14*time.Minute || left > 16*time.Minute {
			t.Errorf("session expires in %v, want about 15 minutes", left)
		}
		if bytes.Contains(r.Body, []byte(s.jti)) || bytes.Contains(r.Body, []byte(code)) {
			t.Error("session info reveals the session id or the access code")
		}
	})

	t.Run("each redemption is one live session", func(t *testing.T) {
		rep := g.capacity(t)
		if rep.Active != redemptions || rep.PerApp["market"] != redemptions {
			t.Errorf("capacity = %+v, want %d active market sessions", rep, redemptions)
		}
	})
}

// ---------------------------------------------------------------------------
// 2. What the backend sees

func TestE2EBackendNeverSeesSecrets(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	marketCode, salesCode := g.link(t, "market"), g.link(t, "sales")
	c := newClient(t)

	postMarket := g.open(t, c, "market", marketCode)
	r := g.redeem(t, c, http.MethodGet, "market", url.Values{"code": {marketCode}})
	wantStatus(t, "GET ?code=", r, http.StatusSeeOther)
	getMarket := sessionFrom(t, "market", r)
	sales := g.open(t, c, "sales", salesCode)
	sessions := []session{postMarket, getMarket, sales}

	forged := func(cookie ...string) http.Header {
		h := http.Header{}
		h["X-Anonymous-App"] = []string{"ops", "sales"}
		h["X-Anonymous-Session"] = []string{"forged-session"}
		h["x-anonymous-session"] = []string{"forged-lowercase"}
		h["X_Anonymous_Session"] = []string{"forged-underscore"}
		h["X_Anonymous_App"] = []string{"forged-underscore-app"}
		h["Cookie"] = cookie
		return h
	}
	type exchange struct {
		sess   session
		method string
		path   string
		hdr    http.Header
		body   string
		// cookies the backend must still get
		keep []string
	}
	exchanges := []exchange{
		{postMarket, http.MethodGet, marketEntry, forged("theme=dark; " + postMarket.cookie.Name + "=" + postMarket.token + "; lang=en"), "", []string{"theme", "lang"}},
		{getMarket, http.MethodGet, "/assets/app.js?v=3", forged(getMarket.cookie.Name + "=" + getMarket.token), "", nil},
		// Two Cookie lines, the other app's cookie too.
		{postMarket, http.MethodHead, "/dashboards/market.html", forged("theme=dark", sales.cookie.Name+"="+sales.token+"; "+postMarket.cookie.Name+"="+postMarket.token), "", []string{"theme"}},
		{sales, http.MethodPost, "/reports/sales/query", mergeHeaders(forged("a=1; "+sales.cookie.Name+"="+sales.token+"; "+postMarket.cookie.Name+"="+postMarket.token),
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}), "q=revenue", []string{"a"}},
		{sales, http.MethodGet, salesEntry, forged(sales.cookie.Name + `="` + sales.token + `"`), "", nil},
	}
	refs := map[string]string{} // jti -> X-Anonymous-Session seen
	for _, ex := range exchanges {
		n := be.count()
		got := c.do(t, ex.method, g.url(ex.path), ex.hdr, ex.body)
		wantStatus(t, ex.method+" "+ex.path, got, http.StatusOK)
		if be.count() != n+1 {
			t.Fatalf("%s %s: backend saw %d requests, want 1", ex.method, ex.path, be.count()-n)
		}
		seen := be.last(t)
		if seen.Body != ex.body {
			t.Errorf("%s %s: backend body %q, want %q", ex.method, ex.path, seen.Body, ex.body)
		}
		var apps, sessRefs []string
		for name, vals := range seen.Header {
			switch strings.ReplaceAll(strings.ToLower(name), "_", "-") {
			case "x-anonymous-app":
				apps = append(apps, vals...)
			case "x-anonymous-session":
				sessRefs = append(sessRefs, vals...)
			}
		}
		if len(apps) != 1 || apps[0] != ex.sess.app {
			t.Errorf("%s %s: backend saw X-Anonymous-App %q, want exactly [%s]", ex.method, ex.path, apps, ex.sess.app)
		}
		if len(sessRefs) != 1 || sessRefs[0] == "" || strings.Contains(sessRefs[0], "forged") {
			t.Fatalf("%s %s: backend saw X-Anonymous-Session %q, want one gateway value", ex.method, ex.path, sessRefs)
		}
		ref := sessRefs[0]
		if pa, ps := seen.Header.Get("X-Placeholder-App"), seen.Header.Get("X-Placeholder-Session"); pa != ex.sess.app || ps != ref {
			t.Errorf("placeholders {http.anonymous_access.app}=%q {http.anonymous_access.session}=%q, want %q and %q", pa, ps, ex.sess.app, ref)
		}
		if ref == ex.sess.jti || strings.Contains(ref, ex.sess.jti) || strings.Contains(ex.sess.jti, ref) {
			t.Errorf("X-Anonymous-Session %q is the session id", ref)
		}
		if prev, ok := refs[ex.sess.jti]; ok && prev != ref {
			t.Errorf("one session, two references: %q and %q", prev, ref)
		}
		refs[ex.sess.jti] = ref
		cookies := map[string]bool{}
		for _, line := range seen.Header.Values("Cookie") {
			for _, part := range strings.Split(line, ";") {
				name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
				cookies[name] = true
			}
		}
		for _, name := range ex.keep {
			if !cookies[name] {
				t.Errorf("%s %s: the client's cookie %q did not reach the backend (Cookie %q)", ex.method, ex.path, name, seen.Header.Values("Cookie"))
			}
		}
	}
	distinct := map[string]bool{}
	for _, ref := range refs {
		distinct[ref] = true
	}
	if len(distinct) != len(sessions) {
		t.Errorf("want one distinct X-Anonymous-Session per session, got %v", refs)
	}

	t.Run("refused requests never reach the backend", func(t *testing.T) {
		n := be.count()
		for _, hdr := range []http.Header{forged(), forged("theme=dark"), forged(postMarket.cookie.Name + "=forged.token.value")} {
			r := c.do(t, http.MethodGet, g.url(marketEntry), hdr, "")
			wantStatus(t, "forged headers without a session", r, http.StatusUnauthorized)
		}
		r := c.do(t, http.MethodGet, g.url("/secret.html"), forged(postMarket.cookie.Name+"="+postMarket.token), "")
		wantStatus(t, "out of scope", r, http.StatusForbidden)
		if be.count() != n {
			t.Errorf("the backend saw %d refused requests", be.count()-n)
		}
	})

	t.Run("no secret anywhere in what the backend saw", func(t *testing.T) {
		secrets := map[string]string{"market access code": marketCode, "sales access code": salesCode}
		for i, s := range sessions {
			secrets[fmt.Sprintf("session %d token", i)] = s.token
			secrets[fmt.Sprintf("session %d id (jti)", i)] = s.jti
		}
		for _, seen := range be.requests() {
			var parts []string
			parts = append(parts, seen.RequestURI, seen.Path, seen.RawQuery, seen.Body)
			for name, vals := range seen.Header {
				parts = append(parts, name)
				parts = append(parts, vals...)
			}
			all := strings.Join(parts, "\n")
			for what, secret := range secrets {
				if strings.Contains(all, secret) {
					t.Errorf("backend request %s %s carries the %s", seen.Method, seen.RequestURI, what)
				}
			}
			if strings.Contains(all, cookiePrefix) {
				t.Errorf("backend request %s %s carries a gateway cookie", seen.Method, seen.RequestURI)
			}
		}
	})
}

// ---------------------------------------------------------------------------
// 3. Refusals

func TestE2ERefusals(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	marketCode := g.link(t, "market")
	opsCode := g.link(t, "ops")
	g.mustCLI(t, "disable", "ops")
	owner := newClient(t)
	market := g.open(t, owner, "market", marketCode)

	t.Run("unknown app, wrong code and turned-off app look the same", func(t *testing.T) {
		attempts := []struct{ name, app, code string }{
			{"unknown app with a real code", "no-such-app", marketCode},
			{"unknown app", "no-such-app", strings.Repeat("A", len(marketCode))},
			{"impossible app id", strings.Repeat("m", 100), marketCode},
			{"wrong code", "market", strings.Repeat("B", len(marketCode))},
			{"malformed code", "market", "not a code!"},
			{"empty code", "market", ""},
			{"other app's code", "sales", marketCode},
			{"turned-off app with its real code", "ops", opsCode},
		}
		for _, html := range []bool{false, true} {
			var ref reply
			for i, a := range attempts {
				for _, method := range []string{http.MethodPost, http.MethodGet} {
					// A fresh client each time: the failure rate limit is
					// per client and is tested on its own.
					c := newClient(t)
					form := url.Values{"code": {a.code}}
					var r reply
					if method == http.MethodGet {
						r = c.do(t, method, g.url("/_anon/open/"+a.app+"?"+form.Encode()), acceptHeader(html), "")
					} else {
						r = c.do(t, method, g.url("/_anon/open/"+a.app), mergeHeaders(acceptHeader(html),
							http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}), form.Encode())
					}
					what := fmt.Sprintf("%s %s (html=%v)", method, a.name, html)
					wantStatus(t, what, r, http.StatusForbidden)
					wantErrorBody(t, what, r, html)
					if len(r.Header.Values("Set-Cookie")) != 0 || r.Header.Get("Location") != "" {
						t.Errorf("%s: set a cookie or redirected", what)
					}
					if i == 0 && method == http.MethodPost {
						ref = r
						continue
					}
					if !bytes.Equal(r.Body, ref.Body) || r.Header.Get("Content-Type") != ref.Header.Get("Content-Type") {
						t.Errorf("%s: answer differs from %q: %q vs %q", what, attempts[0].name, r.Body, ref.Body)
					}
				}
			}
		}
	})

	t.Run("protected requests", func(t *testing.T) {
		none := http.Header{}
		cases := []struct {
			name   string
			method string
			path   string
			cookie http.Header
			want   int
		}{
			{"no cookie", http.MethodGet, marketEntry, none, http.StatusUnauthorized},
			{"invalid token", http.MethodGet, marketEntry, http.Header{"Cookie": {market.cookie.Name + "=eyJhbGciOiJub25lIn0.e30."}}, http.StatusUnauthorized},
			{"tampered token", http.MethodGet, marketEntry, http.Header{"Cookie": {market.cookie.Name + "=" + market.token + "x"}}, http.StatusUnauthorized},
			{"oversized token", http.MethodGet, marketEntry, http.Header{"Cookie": {market.cookie.Name + "=" + strings.Repeat("e", 16<<10)}}, http.StatusUnauthorized},
			{"out of scope", http.MethodGet, "/secret.html", market.cookieHeader(), http.StatusForbidden},
			{"scope is case-sensitive", http.MethodGet, "/Dashboards/market.html", market.cookieHeader(), http.StatusForbidden},
			{"dir scope never matches a sibling", http.MethodGet, "/assetsx/app.js", market.cookieHeader(), http.StatusForbidden},
			{"another app's scope", http.MethodGet, opsEntry, market.cookieHeader(), http.StatusForbidden},
			{"denied path inside scope", http.MethodGet, "/assets/private/key.json", market.cookieHeader(), http.StatusForbidden},
			{"POST on a GET/HEAD app", http.MethodPost, marketEntry, market.cookieHeader(), http.StatusMethodNotAllowed},
			{"DELETE on a GET/HEAD app", http.MethodDelete, "/assets/app.js", market.cookieHeader(), http.StatusMethodNotAllowed},
		}
		n := be.count()
		for _, tc := range cases {
			for _, html := range []bool{false, true} {
				what := fmt.Sprintf("%s (html=%v)", tc.name, html)
				r := owner.do(t, tc.method, g.url(tc.path), mergeHeaders(acceptHeader(html), tc.cookie), "")
				if r.Status != tc.want {
					t.Errorf("%s: status %d, want %d; body %s", what, r.Status, tc.want, r.Body)
					continue
				}
				wantErrorBody(t, what, r, html)
			}
		}
		if be.count() != n {
			t.Errorf("the backend saw %d refused requests", be.count()-n)
		}
		r := owner.do(t, http.MethodGet, g.url("/assets/app.js"), market.cookieHeader(), "")
		wantStatus(t, "control: a request in scope", r, http.StatusOK)
	})

	sales := g.open(t, owner, "sales", g.link(t, "sales"))
	const bodyLimit = 1 << 20
	t.Run("request bodies are capped", func(t *testing.T) {
		r := owner.do(t, http.MethodPost, g.url("/reports/sales/query"), sales.cookieHeader(), strings.Repeat("q", 1024))
		wantStatus(t, "control: a small POST on an app that allows POST", r, http.StatusOK)
		n := be.count()
		r = owner.do(t, http.MethodPost, g.url("/reports/sales/query"), sales.cookieHeader(), strings.Repeat("q", bodyLimit+1))
		wantStatus(t, "POST of 1 MiB + 1 byte", r, http.StatusRequestEntityTooLarge)
		if be.count() != n {
			t.Error("an oversized body with Content-Length reached the backend")
		}
	})

	// Without Content-Length (chunked) the cap can only apply while
	// streaming; the refusal must still be a 413 from the gateway, not a
	// truncated request to the backend answered with 502.
	t.Run("chunked bodies over the cap are refused before the backend", func(t *testing.T) {
		n := be.count()
		body := io.MultiReader(strings.NewReader(strings.Repeat("q", bodyLimit+64<<10))) // no length: chunked
		req, err := http.NewRequest(http.MethodPost, g.url("/reports/sales/query"), body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Cookie", sales.cookie.Name+"="+sales.token)
		req.Close = true // its own connection: the server may answer before the body is sent
		resp, err := owner.hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("chunked POST over the cap: status %d, want 413", resp.StatusCode)
			}
		} else {
			// The server may close while the body is still being sent.
			t.Logf("chunked POST over the cap: %v", err)
		}
		if be.count() != n {
			t.Error("the oversized request reached the backend (its body cut short by the cap)")
		}
	})

	t.Run("path tricks never reach the backend", func(t *testing.T) {
		cookie := map[string]string{"Cookie": market.cookie.Name + "=" + market.token}
		if status, body := rawRequest(t, g.site, http.MethodGet, "/assets/app.js", cookie); status != http.StatusOK {
			t.Fatalf("control: raw request in scope: %d %s", status, body)
		}
		n := be.count()
		for _, target := range []string{
			"/dashboards/../secret.html",
			"/dashboards/market.html/../../secret.html",
			"/assets/../secret.html",
			"/assets/../assets/private/key.json",
			"/assets/%2e%2e/secret.html",
			"/assets/%2E%2E/secret.html",
			"/assets/.%2e/secret.html",
			"/assets/%2e./secret.html",
			"/assets/..%2fsecret.html",
			"/assets%2f..%2fsecret.html",
			"/assets/x%2F..%2F..%2Fsecret.html",
			"/assets/private%2fkey.json",
			"/assets/./private/key.json",
			"/assets/%2e/private/key.json",
			"//assets/app.js",
			"/assets//private/key.json",
			"//evil.example/assets/app.js",
			`/assets/..\secret.html`,
			"/assets/..%5csecret.html",
			"/assets/%00/../secret.html",
		} {
			status, body := rawRequest(t, g.site, http.MethodGet, target, cookie)
			if status < 400 || status >= 500 {
				t.Errorf("GET %s: status %d, want a 4xx refusal; body %.100s", target, status, body)
			}
			if got := be.count(); got != n {
				t.Errorf("GET %s reached the backend as %q", target, be.last(t).RequestURI)
				n = got
			}
		}
	})
}

// ---------------------------------------------------------------------------
// 4. Failure rate limit

func TestE2ERateLimit(t *testing.T) {
	t.Parallel()
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{})
	code := g.link(t, "market")
	guesser := newClient(t)
	wrong := url.Values{"code": {strings.Repeat("Z", len(code))}}

	failures, limited := 0, 0
	var first429 reply
	for range 100 {
		r := g.redeem(t, guesser, http.MethodPost, "market", wrong)
		if r.Status == http.StatusForbidden {
			failures++
			continue
		}
		wantStatus(t, "guess", r, http.StatusTooManyRequests)
		first429 = r
		limited++
		break
	}
	if limited == 0 {
		t.Fatalf("%d wrong codes from one client and no 429", failures)
	}
	if failures == 0 {
		t.Fatal("the first wrong code was already rate limited")
	}
	retryAfter(t, first429)
	wantErrorBody(t, "429", first429, false)

	t.Run("a limited client cannot try the right code either", func(t *testing.T) {
		for _, form := range []url.Values{{"code": {code}}, wrong} {
			r := g.redeem(t, guesser, http.MethodPost, "market", form)
			wantStatus(t, "attempt while limited", r, http.StatusTooManyRequests)
			retryAfter(t, r)
			if len(r.Header.Values("Set-Cookie")) != 0 {
				t.Error("a rate-limited attempt set a cookie")
			}
			limited++
		}
	})

	t.Run("another client is not limited", func(t *testing.T) {
		g.open(t, newClient(t), "market", code)
	})

	t.Run("metrics count refusals by reason", func(t *testing.T) {
		_, samples := g.metrics(t)
		wantMetric(t, samples, "caddy_anonymous_access_links_rejected_total", map[string]string{"tenant": e2eTenant, "reason": "invalid"}, float64(failures))
		wantMetric(t, samples, "caddy_anonymous_access_links_rejected_total", map[string]string{"tenant": e2eTenant, "reason": "rate_limited"}, float64(limited))
	})
}

// ---------------------------------------------------------------------------
// 5. Reset code, disable, enable through the CLI

func TestE2ECodeResetAndDisable(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	c := newClient(t)
	get := func(s session) reply {
		return c.do(t, http.MethodGet, g.url(marketEntry), s.cookieHeader(), "")
	}

	code1 := g.link(t, "market")
	s1 := g.open(t, c, "market", code1)
	wantStatus(t, "first session", get(s1), http.StatusOK)

	var code2 string
	var s2 session
	if !t.Run("reset-code", func(t *testing.T) {
		out := g.mustCLI(t, "reset-code", "market")
		code2 = g.link(t, "market")
		if code2 == code1 {
			t.Fatal("reset-code kept the access code")
		}
		if strings.Contains(out, code1) || strings.Contains(out, code2) {
			t.Errorf("reset-code printed an access code: %s", out)
		}
		r := g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {code1}})
		wantStatus(t, "old link after reset", r, http.StatusForbidden)
		r = get(s1)
		wantStatus(t, "live session after reset", r, http.StatusUnauthorized)
		wantErrorBody(t, "live session after reset", r, false)
		s2 = g.open(t, c, "market", code2)
		wantStatus(t, "session from the new link", get(s2), http.StatusOK)
	}) {
		return
	}

	if !t.Run("disable", func(t *testing.T) {
		out := g.mustCLI(t, "disable", "market")
		var app appState
		if err := json.Unmarshal([]byte(out), &app); err != nil || app.ID != "market" || app.AnonymousAccess {
			t.Errorf("disable printed %s, want the app with anonymous_access false", out)
		}
		wantStatus(t, "live session after disable", get(s2), http.StatusUnauthorized)
		r := g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {code2}})
		wantStatus(t, "link after disable", r, http.StatusForbidden)
		for _, verb := range []string{"link", "embed-code"} {
			if out, err := g.cli(verb, "market"); err == nil || strings.Contains(out, "http") {
				t.Errorf("%s while off: err=%v, output %q; want a failure", verb, err, out)
			}
		}
		if rep := g.capacity(t); rep.PerApp["market"] != 0 {
			t.Errorf("sessions of a turned-off app still count: %+v", rep)
		}
		if g.apps(t)["market"].AnonymousAccess {
			t.Error("apps reports market on after disable")
		}
	}) {
		return
	}

	t.Run("enable", func(t *testing.T) {
		g.mustCLI(t, "enable", "market")
		code3 := g.link(t, "market")
		s3 := g.open(t, c, "market", code3)
		wantStatus(t, "session from a fresh link", get(s3), http.StatusOK)
		wantStatus(t, "session ended by disable stays ended", get(s2), http.StatusUnauthorized)
		wantStatus(t, "session ended by reset stays ended", get(s1), http.StatusUnauthorized)
		out := g.mustCLI(t, "apps")
		for _, secret := range []string{code1, code2, code3} {
			if strings.Contains(out, secret) {
				t.Error("apps printed an access code")
			}
		}
		if !g.apps(t)["market"].AnonymousAccess {
			t.Error("apps reports market off after enable")
		}
	})
}

// ---------------------------------------------------------------------------
// 6. Capacity under concurrent redemptions

func TestE2ECapacityExact(t *testing.T) {
	t.Parallel()
	const capacity, attempts = 20, 200
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{Capacity: capacity})
	code := g.link(t, "market")
	c := newClient(t)
	form := url.Values{"code": {code}}.Encode()
	hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}

	results := make([]reply, attempts)
	errs := make([]error, attempts)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = c.send(http.MethodPost, g.url("/_anon/open/market"), hdr, form)
		}()
	}
	close(start)
	wg.Wait()

	var admitted []session
	tokens := map[string]bool{}
	full := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("redemption %d: %v", i, errs[i])
		}
		switch r.Status {
		case http.StatusSeeOther:
			s := sessionFrom(t, "market", r)
			tokens[s.token] = true
			admitted = append(admitted, s)
		case http.StatusServiceUnavailable:
			full++
			retryAfter(t, r)
			if len(r.Header.Values("Set-Cookie")) != 0 {
				t.Error("a 503 set a cookie")
			}
		default:
			t.Errorf("redemption %d: status %d %s", i, r.Status, r.Body)
		}
	}
	if len(admitted) != capacity || full != attempts-capacity {
		t.Fatalf("%d admitted and %d turned away, want exactly %d and %d", len(admitted), full, capacity, attempts-capacity)
	}
	if len(tokens) != capacity {
		t.Errorf("%d distinct session tokens, want %d", len(tokens), capacity)
	}

	rep := g.capacity(t)
	if rep.Capacity != capacity || rep.Active != capacity || rep.PerApp["market"] != capacity || rep.Peak != capacity {
		t.Errorf("capacity route = %+v, want capacity, active and peak %d", rep, capacity)
	}
	var printed capacityReport
	if out := g.mustCLI(t, "capacity"); json.Unmarshal([]byte(out), &printed) != nil || printed.Active != capacity || printed.Capacity != capacity {
		t.Errorf("capacity verb printed %s, want active and capacity %d", out, capacity)
	}
	_, samples := g.metrics(t)
	wantMetric(t, samples, "caddy_anonymous_access_links_rejected_total", map[string]string{"tenant": e2eTenant, "reason": "capacity"}, attempts-capacity)
	wantMetric(t, samples, "caddy_anonymous_access_sessions_started_total", map[string]string{"tenant": e2eTenant, "app": "market", "kind": "link"}, capacity)
	wantMetric(t, samples, "caddy_anonymous_access_sessions_active", map[string]string{"tenant": e2eTenant, "app": "market"}, capacity)
	wantMetric(t, samples, "caddy_anonymous_access_capacity", map[string]string{"tenant": e2eTenant}, capacity)

	r := g.redeem(t, newClient(t), http.MethodPost, "market", url.Values{"code": {code}})
	wantStatus(t, "redemption when full", r, http.StatusServiceUnavailable)
	retryAfter(t, r)
	for _, s := range []session{admitted[0], admitted[capacity-1]} {
		got := c.do(t, http.MethodGet, g.url(marketEntry), s.cookieHeader(), "")
		wantStatus(t, "an admitted session when full", got, http.StatusOK)
	}
}

// ---------------------------------------------------------------------------
// 7. Reload

func TestE2EReloadKeepsState(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{Capacity: 10})
	c := newClient(t)
	get := func(s session, path string) int {
		return c.do(t, http.MethodGet, g.url(path), s.cookieHeader(), "").Status
	}

	market1 := g.open(t, c, "market", g.link(t, "market"))
	salesCode := g.link(t, "sales")
	sales := g.open(t, c, "sales", salesCode)
	g.mustCLI(t, "disable", "sales")
	g.mustCLI(t, "reset-code", "market")
	marketCode := g.link(t, "market")
	market2 := g.open(t, c, "market", marketCode)
	opsCode := g.link(t, "ops")
	ops := g.open(t, c, "ops", opsCode)
	_, before := g.metrics(t)
	startedLabels := map[string]string{"tenant": e2eTenant, "app": "market", "kind": "link"}
	startedBefore, _ := metricValue(before, "caddy_anonymous_access_sessions_started_total", startedLabels)
	if startedBefore != 2 {
		t.Fatalf("sessions_started_total before reload = %v, want 2", startedBefore)
	}

	if got := get(market2, "/extra.html"); got != http.StatusForbidden {
		t.Fatalf("GET /extra.html before it is in scope: %d", got)
	}

	cfg := g.cfg
	cfg.Capacity = 11
	cfg.ExtraScope = " /extra.html"
	if err := g.reload(cfg); err != nil {
		t.Fatal(err)
	}
	if got := get(market2, "/extra.html"); got != http.StatusOK {
		t.Errorf("GET /extra.html after the reload put it in scope: %d, want 200", got)
	}
	rep := g.capacity(t)
	if rep.Capacity != 11 {
		t.Fatalf("capacity after reload = %d, want 11 (did the reload apply?)", rep.Capacity)
	}
	if rep.Active != 2 || rep.PerApp["market"] != 1 || rep.PerApp["ops"] != 1 {
		t.Errorf("live sessions after reload = %+v, want market 1 and ops 1", rep)
	}

	if got := get(market2, marketEntry); got != http.StatusOK {
		t.Errorf("live session after reload: %d, want 200", got)
	}
	if got := get(ops, opsEntry); got != http.StatusOK {
		t.Errorf("live ops session after reload: %d, want 200", got)
	}
	if got := get(market1, marketEntry); got != http.StatusUnauthorized {
		t.Errorf("session ended by reset came back after reload: %d", got)
	}
	if got := get(sales, salesEntry); got != http.StatusUnauthorized {
		t.Errorf("session ended by disable came back after reload: %d", got)
	}
	if code := g.link(t, "market"); code != marketCode {
		t.Error("reload changed the access code")
	}
	if code := g.link(t, "ops"); code != opsCode {
		t.Error("reload changed an untouched access code")
	}
	if _, err := g.cli("link", "sales"); err == nil {
		t.Error("reload turned sales back on (link verb works)")
	}
	if g.apps(t)["sales"].AnonymousAccess {
		t.Error("reload turned sales back on (apps route)")
	}
	r := g.redeem(t, c, http.MethodPost, "sales", url.Values{"code": {salesCode}})
	wantStatus(t, "turned-off app after reload", r, http.StatusForbidden)

	t.Run("an app removed from the configuration stops", func(t *testing.T) {
		cfg := g.cfg
		cfg.WithoutOps = true
		if err := g.reload(cfg); err != nil {
			t.Fatal(err)
		}
		if got := get(ops, opsEntry); got != http.StatusUnauthorized {
			t.Errorf("session of a removed app: %d, want 401", got)
		}
		if _, err := g.cli("link", "ops"); err == nil {
			t.Error("link verb works for a removed app")
		}
		r := g.redeem(t, c, http.MethodPost, "ops", url.Values{"code": {opsCode}})
		wantStatus(t, "link of a removed app", r, http.StatusForbidden)
		if got := get(market2, marketEntry); got != http.StatusOK {
			t.Errorf("live market session after removing ops: %d", got)
		}
	})

	_, after := g.metrics(t)
	wantMetric(t, after, "caddy_anonymous_access_sessions_started_total", startedLabels, startedBefore)
	wantMetric(t, after, "caddy_anonymous_access_access_code_resets_total", map[string]string{"tenant": e2eTenant, "app": "market"}, 1)
	wantMetric(t, after, "caddy_anonymous_access_capacity", map[string]string{"tenant": e2eTenant}, 11)
	g.open(t, c, "market", marketCode)
	_, later := g.metrics(t)
	wantMetric(t, later, "caddy_anonymous_access_sessions_started_total", startedLabels, startedBefore+1)
}

// A reload that fails must leave the running configuration as it was:
// Caddy keeps the old config, so the gateway must too.
func TestE2EFailedReloadKeepsRunningConfig(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	dir := t.TempDir()
	g := startGateway(t, dir, be, gatewayConfig{Capacity: 10})
	c := newClient(t)
	market := g.open(t, c, "market", g.link(t, "market"))
	scopeBefore := g.apps(t)["market"].Scope

	bad := g.cfg
	bad.Capacity = 3
	bad.ExtraScope = " /secret.html"
	bad.BrokenTransport = filepath.Join(dir, "missing-client-cert.pem")
	if err := g.reload(bad); err == nil {
		t.Fatal("a reload with a missing client certificate succeeded")
	}

	if rep := g.capacity(t); rep.Capacity != 10 {
		t.Errorf("after a failed reload the capacity is %d, want the running config's 10", rep.Capacity)
	}
	if scope := g.apps(t)["market"].Scope; strings.Join(scope, " ") != strings.Join(scopeBefore, " ") {
		t.Errorf("after a failed reload market's scope is %q, want the running config's %q", scope, scopeBefore)
	}
	n := be.count()
	r := c.do(t, http.MethodGet, g.url("/secret.html"), market.cookieHeader(), "")
	if r.Status != http.StatusForbidden || be.count() != n {
		t.Errorf("after a failed reload GET /secret.html (outside the running scope): %d, backend reached: %v; want 403",
			r.Status, be.count() != n)
	}
	wantStatus(t, "live session after a failed reload", c.do(t, http.MethodGet, g.url(marketEntry), market.cookieHeader(), ""), http.StatusOK)
}

// ---------------------------------------------------------------------------
// 8. Restart

func TestE2ERestartKeepsState(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	dir := t.TempDir()
	g1 := startGateway(t, dir, be, gatewayConfig{})
	c := newClient(t)
	code := g1.link(t, "market")
	link := g1.open(t, c, "market", code)
	r := g1.redeem(t, c, http.MethodPost, "market", url.Values{"code": {code}, "embed": {"1"}})
	wantStatus(t, "embed", r, http.StatusSeeOther)
	embed := sessionFrom(t, "market", r)
	g1.mustCLI(t, "disable", "ops")
	salesOld := g1.link(t, "sales")
	g1.mustCLI(t, "reset-code", "sales")
	salesNew := g1.link(t, "sales")
	// The last session starts right before SIGTERM: the store must
	// still write it.
	last := g1.open(t, c, "market", code)
	if err := g1.stop(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, g1.stderr.String())
	}
	g2 := startGateway(t, dir, be, gatewayConfig{})

	if got := g2.link(t, "market"); got != code {
		t.Error("the access code changed across a restart")
	}
	for _, s := range []session{link, embed, last} {
		got := c.do(t, http.MethodGet, g2.url(marketEntry), s.cookieHeader(), "")
		wantStatus(t, "session from before the restart", got, http.StatusOK)
	}
	rep := g2.capacity(t)
	if rep.Active != 3 || rep.PerApp["market"] != 3 || rep.Peak < 3 {
		t.Errorf("after restart the capacity route reports %+v, want the 3 live market sessions", rep)
	}
	if _, err := g2.cli("link", "ops"); err == nil {
		t.Error("a turned-off app is on again after restart")
	}
	if got := g2.link(t, "sales"); got != salesNew {
		t.Error("a reset access code is not the one in use after restart")
	}
	r = g2.redeem(t, c, http.MethodPost, "sales", url.Values{"code": {salesOld}})
	wantStatus(t, "code from before a reset, after restart", r, http.StatusForbidden)
}

// ---------------------------------------------------------------------------
// Session expiry and renewal (session_ttl shortened to 3s)

func TestE2EExpiryAndRenewal(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	// Token expiry has a resolution of one second: a 3s session lives
	// at least 2s, time enough for the steps that need it alive.
	g := startGateway(t, t.TempDir(), be, gatewayConfig{SessionTTL: "3s", Capacity: 2})
	c := newClient(t)
	code := g.link(t, "market")
	renewed, kept := g.open(t, c, "market", code), g.open(t, c, "market", code)
	// A script's fetch never renews; a page load may.
	fetch := func(s session) reply {
		return c.do(t, http.MethodGet, g.url(marketEntry), mergeHeaders(s.cookieHeader(),
			http.Header{"Accept": {"application/json"}, "Sec-Fetch-Dest": {"empty"}}), "")
	}
	page := func(s session) reply {
		return c.do(t, http.MethodGet, g.url(marketEntry), mergeHeaders(s.cookieHeader(),
			http.Header{"Accept": {"text/html"}, "Sec-Fetch-Dest": {"document"}, "Sec-Fetch-Mode": {"navigate"}}), "")
	}
	wantStatus(t, "fresh session", fetch(renewed), http.StatusOK)

	deadline := time.Now().Add(15 * time.Second)
	for _, s := range []session{renewed, kept} {
		for {
			r := fetch(s)
			if r.Status == http.StatusUnauthorized {
				wantErrorBody(t, "expired session", r, false)
				if len(r.Header.Values("Set-Cookie")) != 0 {
					t.Error("a fetch with an expired session started a new one")
				}
				break
			}
			wantStatus(t, "session before expiry", r, http.StatusOK)
			if time.Now().After(deadline) {
				t.Fatal("a 3s session still works after 15s")
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-t.Context().Done():
				t.Fatal(t.Context().Err())
			}
		}
	}
	if rep := g.capacity(t); rep.Active != 0 {
		t.Errorf("expired sessions still count: %+v", rep)
	}

	n := be.count()
	r := page(renewed)
	wantStatus(t, "page load with an expired session", r, http.StatusOK)
	if be.count() != n+1 {
		t.Error("the renewed page load did not reach the backend")
	}
	fresh := sessionFrom(t, "market", r)
	if fresh.jti == renewed.jti || fresh.token == renewed.token {
		t.Error("renewal kept the old session id")
	}
	if fresh.cookie.SameSite != http.SameSiteLaxMode || !fresh.cookie.HttpOnly || !fresh.cookie.Secure {
		t.Errorf("renewed cookie %q", r.Header.Get("Set-Cookie"))
	}
	wantStatus(t, "renewed session", fetch(fresh), http.StatusOK)
	if rep := g.capacity(t); rep.Active != 1 {
		t.Errorf("after one renewal: %+v, want 1 active", rep)
	}
	_, samples := g.metrics(t)
	wantMetric(t, samples, "caddy_anonymous_access_sessions_started_total", map[string]string{"tenant": e2eTenant, "app": "market", "kind": "renewal"}, 1)

	// Renewal goes through capacity admission like a new visitor.
	g.open(t, c, "market", code)
	n = be.count()
	r = page(kept)
	wantStatus(t, "renewal when capacity is full", r, http.StatusServiceUnavailable)
	retryAfter(t, r)
	if len(r.Header.Values("Set-Cookie")) != 0 || be.count() != n {
		t.Error("a renewal past capacity started a session or reached the backend")
	}

	g.mustCLI(t, "reset-code", "market")
	n = be.count()
	r = page(kept)
	wantStatus(t, "page load with an expired session after reset-code", r, http.StatusUnauthorized)
	if len(r.Header.Values("Set-Cookie")) != 0 || be.count() != n {
		t.Error("a token from before reset-code started a new session")
	}
}

// ---------------------------------------------------------------------------
// 9. Metrics

func TestE2EMetrics(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{Capacity: 50})
	c := newClient(t)
	marketCode, salesCode := g.link(t, "market"), g.link(t, "sales")
	var sessions []session
	for range 2 {
		sessions = append(sessions, g.open(t, c, "market", marketCode))
	}
	r := g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {marketCode}, "embed": {"1"}})
	wantStatus(t, "embed", r, http.StatusSeeOther)
	sessions = append(sessions, sessionFrom(t, "market", r))
	sessions = append(sessions, g.open(t, c, "sales", salesCode))
	wantStatus(t, "wrong code", g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {"wrong"}}), http.StatusForbidden)

	protected := 0
	for _, step := range []struct {
		method, path string
		hdr          http.Header
		want         int
	}{
		{http.MethodGet, marketEntry, sessions[0].cookieHeader(), http.StatusOK},
		{http.MethodGet, "/assets/app.js", sessions[2].cookieHeader(), http.StatusOK},
		{http.MethodGet, marketEntry, nil, http.StatusUnauthorized},
		{http.MethodGet, "/secret.html", sessions[0].cookieHeader(), http.StatusForbidden},
		{http.MethodPost, marketEntry, sessions[0].cookieHeader(), http.StatusMethodNotAllowed},
	} {
		wantStatus(t, step.method+" "+step.path, c.do(t, step.method, g.url(step.path), step.hdr, ""), step.want)
		protected++
	}
	g.mustCLI(t, "reset-code", "sales")
	newSalesCode := g.link(t, "sales")
	wantStatus(t, "session after reset", c.do(t, http.MethodGet, g.url(salesEntry), sessions[3].cookieHeader(), ""), http.StatusUnauthorized)
	protected++

	text, samples := g.metrics(t)
	tenant := map[string]string{"tenant": e2eTenant}
	wantMetric(t, samples, "caddy_anonymous_access_sessions_active", map[string]string{"tenant": e2eTenant, "app": "market"}, 3)
	wantMetric(t, samples, "caddy_anonymous_access_capacity", tenant, 50)
	wantMetric(t, samples, "caddy_anonymous_access_sessions_started_total", map[string]string{"tenant": e2eTenant, "app": "market", "kind": "link"}, 2)
	wantMetric(t, samples, "caddy_anonymous_access_sessions_started_total", map[string]string{"tenant": e2eTenant, "app": "market", "kind": "embed"}, 1)
	wantMetric(t, samples, "caddy_anonymous_access_sessions_started_total", map[string]string{"tenant": e2eTenant, "app": "sales", "kind": "link"}, 1)
	wantMetric(t, samples, "caddy_anonymous_access_links_rejected_total", map[string]string{"tenant": e2eTenant, "reason": "invalid"}, 1)
	for reason, n := range map[string]float64{"no_session": 1, "scope": 1, "method": 1, "revoked": 1} {
		wantMetric(t, samples, "caddy_anonymous_access_requests_denied_total", map[string]string{"tenant": e2eTenant, "reason": reason}, n)
	}
	wantMetric(t, samples, "caddy_anonymous_access_access_code_resets_total", map[string]string{"tenant": e2eTenant, "app": "sales"}, 1)
	if n, ok := metricValue(samples, "caddy_anonymous_access_check_duration_seconds_count", nil); !ok || n < float64(protected) {
		t.Errorf("check_duration_seconds_count = %v (present %v), want at least %d", n, ok, protected)
	}
	if _, ok := metricValue(samples, "caddy_anonymous_access_check_duration_seconds_bucket", map[string]string{"le": "+Inf"}); !ok {
		t.Error("check_duration_seconds is not a histogram")
	}

	secrets := []string{marketCode, salesCode, newSalesCode}
	for _, s := range sessions {
		secrets = append(secrets, s.token, s.jti)
	}
	for _, secret := range secrets {
		if strings.Contains(text, secret) {
			t.Errorf("the metrics output contains a code, token or session id")
		}
	}
	for _, s := range samples {
		for k, v := range s.labels {
			if strings.Contains(v, c.ip) {
				t.Errorf("%s{%s=%q} holds the client IP", s.name, k, v)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// 10. Logs

func TestE2ELogsKeepSecrets(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{Debug: true, AccessLog: true, Capacity: 3})
	c := newClient(t)
	var secrets []string
	var sessions []session
	marketCode := g.link(t, "market")
	secrets = append(secrets, marketCode)

	c.do(t, http.MethodGet, g.url("/_anon/open/market"), acceptHeader(true), "")
	sessions = append(sessions, g.open(t, c, "market", marketCode))
	for _, extra := range []url.Values{{"embed": {"1"}}, {"object": {"/assets/chart.svg"}}} {
		form := url.Values{"code": {marketCode}}
		for k, v := range extra {
			form[k] = v
		}
		r := g.redeem(t, c, http.MethodGet, "market", form)
		wantStatus(t, "GET ?code=", r, http.StatusSeeOther)
		sessions = append(sessions, sessionFrom(t, "market", r))
	}
	wantStatus(t, "capacity full", g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {marketCode}}), http.StatusServiceUnavailable)
	wantStatus(t, "wrong code", g.redeem(t, c, http.MethodGet, "market", url.Values{"code": {strings.Repeat("Q", len(marketCode))}}), http.StatusForbidden)
	wantStatus(t, "bad object", g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {marketCode}, "object": {"/secret.html"}}), http.StatusBadRequest)
	for _, s := range sessions {
		wantStatus(t, "protected", c.do(t, http.MethodGet, g.url(marketEntry+"?x=1"), s.cookieHeader(), ""), http.StatusOK)
		wantStatus(t, "denied", c.do(t, http.MethodGet, g.url("/secret.html"), s.cookieHeader(), ""), http.StatusForbidden)
		wantStatus(t, "session info", c.do(t, http.MethodGet, g.url("/_anon/session"), s.cookieHeader(), ""), http.StatusOK)
	}
	g.mustCLI(t, "reset-code", "market")
	wantStatus(t, "revoked", c.do(t, http.MethodGet, g.url(marketEntry), sessions[0].cookieHeader(), ""), http.StatusUnauthorized)
	newCode := g.link(t, "market")
	secrets = append(secrets, newCode)
	g.mustCLI(t, "embed-code", "market")
	g.mustCLI(t, "disable", "market")
	wantStatus(t, "off", g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {newCode}}), http.StatusForbidden)
	g.mustCLI(t, "enable", "market")
	sessions = append(sessions, g.open(t, c, "market", newCode))
	for _, s := range sessions {
		secrets = append(secrets, s.token, s.jti)
	}
	g.mustCLI(t, "capacity")
	g.metrics(t)

	// Stop first, so that every log line is written.
	if err := g.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	processLog := g.stderr.String() + g.stdout.String()
	if !strings.Contains(processLog, `"level":"debug"`) || !strings.Contains(processLog, "anonymous") {
		t.Fatalf("the process log has no debug lines of the plugin; is logging set up?\n%.2000s", processLog)
	}
	accessLog, err := os.ReadFile(g.accessLog)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(accessLog, []byte("/_anon/open/market")) {
		t.Fatalf("the access log did not record the redemptions:\n%.2000s", accessLog)
	}
	for name, text := range map[string]string{"process log (stderr)": processLog, "access log": string(accessLog)} {
		for _, secret := range secrets {
			if i := strings.Index(text, secret); i >= 0 {
				start := strings.LastIndexByte(text[:i], '\n') + 1
				end := i + strings.IndexByte(text[i:]+"\n", '\n')
				t.Errorf("the %s holds a code, token or session id:\n%s", name, text[start:end])
			}
		}
	}
}
