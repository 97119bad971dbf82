//go:build unix

package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

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
