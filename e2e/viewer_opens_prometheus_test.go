//go:build unix

package e2e

// An anonymous viewer of Prometheus: Debian's prometheus behind the
// gateway with the README's recipes. The link lands on the graph of its
// entry, the graph page and the queries it makes work with the session,
// and the admin API, configuration, targets and lifecycle endpoints stay
// out of reach: refused at the gateway, never seen by Prometheus.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// promEntry is where the README's Prometheus recipes land.
const promEntry = "/classic/graph?g0.expr=up&g0.tab=0"

// startPrometheusSite runs prometheus and, in front of it, a gateway with
// the README's Prometheus recipes.
func startPrometheusSite(t *testing.T, tls bool) (*prometheusServer, *gateway) {
	t.Helper()
	p := startPrometheus(t)
	g := startSite(t, site{
		TLS:    tls,
		Apps:   recipe(t, "prom") + "\n" + recipe(t, "prom-up"),
		Routes: "reverse_proxy " + p.addr,
	})
	return p, g
}

// TestE2EPrometheusBehindTheGateway: the README's Prometheus recipe in
// front of a real prometheus, first without a session, then with one.
func TestE2EPrometheusBehindTheGateway(t *testing.T) {
	t.Parallel()
	p, g := startPrometheusSite(t, false)
	c := newClient(t)
	t.Run("without a session", func(t *testing.T) { wantPrometheusUnreached(t, p, g, c) })

	r := g.redeem(t, c, http.MethodGet, "prom", url.Values{"code": {g.link(t, "prom")}})
	wantStatus(t, "opening the prom link", r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != promEntry {
		t.Fatalf("the link lands on %q, want the entry with its query string %q", loc, promEntry)
	}
	prom := sessionFrom(t, "prom", r)

	t.Run("the graph page and its assets", func(t *testing.T) { wantGraphPage(t, g, c, prom) })
	t.Run("the queries of the page and of API clients", func(t *testing.T) { wantQueries(t, g, c, prom) })
	t.Run("admin, config, targets and lifecycle out of reach", func(t *testing.T) { wantOutOfReach(t, p, g, c, prom) })
	t.Run("a link locked to one expression", func(t *testing.T) { wantLockedQuery(t, g, c, prom) })
}

// promPaths are requests a viewer may make with a session of prom.
var promPaths = []struct{ method, path string }{
	{http.MethodGet, promEntry},
	{http.MethodGet, "/classic/static/js/graph/index.js"},
	{http.MethodGet, "/api/v1/query?query=up"},
	{http.MethodPost, "/api/v1/query?query=up"},
	{http.MethodGet, "/api/v1/query_range?query=up&start=0&end=60&step=15"},
	{http.MethodGet, "/api/v1/label/__name__/values"},
}

// wantPrometheusUnreached: without a session every path, allowed or not,
// is 401 no_session, and Prometheus serves no request in the meantime
// (its only traffic is scraping its own /metrics).
func wantPrometheusUnreached(t *testing.T, p *prometheusServer, g *gateway, c *client) {
	before := p.served(t)
	requests := promPaths
	for _, o := range promOutOfReach {
		requests = append(requests, struct{ method, path string }{o.method, o.path})
	}
	for _, rq := range requests {
		r := c.do(t, rq.method, g.url(rq.path), acceptHeader(false), "")
		wantStatus(t, rq.method+" "+rq.path+" without a session", r, http.StatusUnauthorized)
		if errorCode(r) != "no_session" {
			t.Errorf("%s %s without a session: error %q, want no_session", rq.method, rq.path, errorCode(r))
		}
	}
	after := p.served(t)
	for handler, n := range after {
		if handler != "/metrics" && n != before[handler] {
			t.Errorf("prometheus served %v requests of %s while the viewer had no session", n-before[handler], handler)
		}
	}
}

// wantGraphPage: the entry is Prometheus's graph page, and every script,
// style and image it references, and the template its script loads, are
// served with the session.
func wantGraphPage(t *testing.T, g *gateway, c *client, s session) {
	page := getWith(t, c, g, s, promEntry)
	wantStatus(t, "the graph page", page, http.StatusOK)
	if !strings.Contains(string(page.Body), `id="graph_container"`) {
		t.Fatalf("the entry is not Prometheus's graph page: %.300s", page.Body)
	}
	assets := regexp.MustCompile(`(?:src|href)="(/classic/static/[^"]+)"`).FindAllStringSubmatch(string(page.Body), -1)
	if len(assets) < 10 {
		t.Fatalf("the graph page references %d assets under /classic/static/, want its scripts and styles", len(assets))
	}
	paths := []string{"/classic/static/js/graph/graph_template.handlebar?v=2&_=1"}
	for _, m := range assets {
		paths = append(paths, m[1])
	}
	for _, path := range paths {
		r := getWith(t, c, g, s, path)
		wantStatus(t, "GET "+path+" with the session", r, http.StatusOK)
		if len(r.Body) == 0 {
			t.Errorf("GET %s with the session: empty", path)
		}
	}
}

// wantQueries: the API calls of the graph page (the time-drift check, the
// metric list, the graph) and an API client's POST forms answer with
// data. A PromQL "%" in the query string is not a bad path.
func wantQueries(t *testing.T, g *gateway, c *client, s session) {
	// The range ends a minute ahead: a step at or after the first scrape
	// sees it, however young this prometheus is.
	start, end := time.Now().Unix()-3600, time.Now().Unix()+60
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for _, q := range []struct {
		method, path, body, resultType string
	}{
		{http.MethodGet, "/api/v1/query?query=time()&_=1", "", "scalar"},
		{http.MethodGet, "/api/v1/query?query=" + url.QueryEscape("time() % 60"), "", "scalar"},
		{http.MethodGet, "/api/v1/query?query=up", "", "vector"},
		{http.MethodGet, fmt.Sprintf("/api/v1/query_range?query=up&start=%d&end=%d&step=14", start, end), "", "matrix"},
		{http.MethodPost, "/api/v1/query", "query=up", "vector"},
		{http.MethodPost, "/api/v1/query_range", fmt.Sprintf("query=up&start=%d&end=%d&step=14", start, end), "matrix"},
	} {
		what := q.method + " " + q.path + " " + q.body
		r := c.do(t, q.method, g.url(q.path), mergeHeaders(s.cookieHeader(), form), q.body)
		res := wantPromSuccess(t, what, r)
		if res.ResultType != q.resultType {
			t.Errorf("%s: result type %q, want %q", what, res.ResultType, q.resultType)
		}
		if q.resultType == "scalar" {
			continue
		}
		if series := res.series(t); len(series) == 0 || series[0]["__name__"] != "up" {
			t.Errorf("%s: %v, want the series of up", what, series)
		}
	}
	r := getWith(t, c, g, s, "/api/v1/label/__name__/values?_=1")
	var names []string
	if err := json.Unmarshal(wantPromSuccessRaw(t, "the metric list", r), &names); err != nil || !slices.Contains(names, "up") {
		t.Errorf("the metric list: %v (%v), want it to hold up", names, err)
	}
}

// promQueryData is the data of a query's answer.
type promQueryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// series are the labels of each series of a vector or matrix.
func (d promQueryData) series(t *testing.T) []map[string]string {
	t.Helper()
	var result []struct {
		Metric map[string]string `json:"metric"`
	}
	if err := json.Unmarshal(d.Result, &result); err != nil {
		t.Fatalf("a %s result: %v", d.ResultType, err)
	}
	out := make([]map[string]string, len(result))
	for i, r := range result {
		out[i] = r.Metric
	}
	return out
}

// wantPromSuccess checks an answer of Prometheus's query API: 200, JSON,
// status success; it returns the data.
func wantPromSuccess(t *testing.T, what string, r reply) promQueryData {
	t.Helper()
	var d promQueryData
	if err := json.Unmarshal(wantPromSuccessRaw(t, what, r), &d); err != nil {
		t.Fatalf("%s: data %v", what, err)
	}
	return d
}

// wantPromSuccessRaw checks an answer of Prometheus's API and returns its
// data undecoded.
func wantPromSuccessRaw(t *testing.T, what string, r reply) json.RawMessage {
	t.Helper()
	wantStatus(t, what, r, http.StatusOK)
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &env); err != nil || env.Status != "success" {
		t.Fatalf("%s: %v, want Prometheus's JSON with status success: %.300s", what, err, r.Body)
	}
	return env.Data
}

// promOutOfReach are Prometheus's endpoints that a session of prom must
// not reach, with the handler label Prometheus counts them under ("" where
// the path is also served legitimately, or by its own scrapes).
var promOutOfReach = []struct {
	method, path, handler string
	status                int
}{
	{http.MethodPost, "/api/v1/admin/tsdb/snapshot", "/api/v1/admin/tsdb/snapshot", http.StatusForbidden},
	{http.MethodPost, "/api/v1/admin/tsdb/delete_series?match[]=up", "/api/v1/admin/tsdb/delete_series", http.StatusForbidden},
	{http.MethodPost, "/api/v1/admin/tsdb/clean_tombstones", "/api/v1/admin/tsdb/clean_tombstones", http.StatusForbidden},
	{http.MethodGet, "/api/v1/status/config", "/api/v1/status/config", http.StatusForbidden},
	{http.MethodGet, "/api/v1/status/flags", "/api/v1/status/flags", http.StatusForbidden},
	{http.MethodGet, "/api/v1/targets", "/api/v1/targets", http.StatusForbidden},
	{http.MethodGet, "/classic/config", "/classic/config", http.StatusForbidden},
	{http.MethodGet, "/classic/flags", "/classic/flags", http.StatusForbidden},
	{http.MethodGet, "/classic/targets", "/classic/targets", http.StatusForbidden},
	{http.MethodGet, "/classic/service-discovery", "/classic/service-discovery", http.StatusForbidden},
	{http.MethodGet, "/classic/status", "/classic/status", http.StatusForbidden},
	{http.MethodGet, "/classic/alerts", "/classic/alerts", http.StatusForbidden},
	{http.MethodPost, "/-/reload", "/-/reload", http.StatusForbidden},
	{http.MethodPost, "/-/quit", "/-/quit", http.StatusForbidden},
	{http.MethodPut, "/-/quit", "/-/quit", http.StatusForbidden},
	{http.MethodGet, "/federate?match[]=up", "/federate", http.StatusForbidden},
	{http.MethodGet, "/metrics", "", http.StatusForbidden},
	{http.MethodGet, "/", "/", http.StatusForbidden},
	{http.MethodPost, "/classic/graph", "", http.StatusMethodNotAllowed},
	{http.MethodDelete, "/api/v1/query?query=up", "", http.StatusMethodNotAllowed},
}

// wantOutOfReach: with a live session each endpoint of promOutOfReach is
// refused; Prometheus never served one of them, still runs after /-/quit,
// took no snapshot and deleted no series.
func wantOutOfReach(t *testing.T, p *prometheusServer, g *gateway, c *client, s session) {
	for _, o := range promOutOfReach {
		r := c.do(t, o.method, g.url(o.path), mergeHeaders(s.cookieHeader(), acceptHeader(false)), "")
		wantStatus(t, o.method+" "+o.path+" with a session", r, o.status)
		wantErrorBody(t, o.method+" "+o.path, r, false)
	}
	served := p.served(t)
	for _, o := range promOutOfReach {
		if o.handler != "" && served[o.handler] != 0 {
			t.Errorf("prometheus served %v requests of %s", served[o.handler], o.handler)
		}
	}
	if !p.running() {
		t.Fatalf("prometheus exited: %v\n%s", p.waitErr, p.log.String())
	}
	if _, err := os.Stat(filepath.Join(p.dataDir, "snapshots")); !os.IsNotExist(err) {
		t.Errorf("prometheus took a snapshot (%v)", err)
	}
	if n, err := p.series("/api/v1/query?query=up"); err != nil || n == 0 {
		t.Errorf("the series of up after the refused delete_series: %d (%v)", n, err)
	}
}

// wantLockedQuery: a session of prom-up gets the series of up whatever
// expression it asks for, in the URL or under an encoded name, and cannot
// POST a form (its body would escape the lock); a session of prom, the
// app without locked parameters, still asks what it likes.
func wantLockedQuery(t *testing.T, g *gateway, c *client, prom session) {
	r := g.redeem(t, c, http.MethodPost, "prom-up", url.Values{"code": {g.link(t, "prom-up")}})
	wantStatus(t, "opening the prom-up link", r, http.StatusSeeOther)
	locked := sessionFrom(t, "prom-up", r)
	wantStatus(t, "prom-up's graph page", getWith(t, c, g, locked, promEntry), http.StatusOK)
	now := time.Now().Unix()
	for _, path := range []string{
		"/api/v1/query?query=prometheus_build_info",
		"/api/v1/query?query=prometheus_build_info&query=go_goroutines",
		"/api/v1/query?%71uery=prometheus_build_info",
		fmt.Sprintf("/api/v1/query_range?query=prometheus_build_info&start=%d&end=%d&step=14", now-600, now+60),
	} {
		series := wantPromSuccess(t, "prom-up: "+path, getWith(t, c, g, locked, path)).series(t)
		if len(series) == 0 {
			t.Errorf("prom-up: %s: no series, want those of up", path)
		}
		for _, labels := range series {
			if labels["__name__"] != "up" {
				t.Errorf("prom-up: %s answered %v, want only the series of up", path, labels)
			}
		}
	}
	post := c.do(t, http.MethodPost, g.url("/api/v1/query"),
		mergeHeaders(locked.cookieHeader(), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}), "query=prometheus_build_info")
	wantStatus(t, "prom-up: POST /api/v1/query", post, http.StatusMethodNotAllowed)

	series := wantPromSuccess(t, "prom: another expression", getWith(t, c, g, prom, "/api/v1/query?query=prometheus_build_info")).series(t)
	if len(series) != 1 || series[0]["__name__"] != "prometheus_build_info" {
		t.Errorf("prom: prometheus_build_info answered %v: the lock of prom-up reached prom", series)
	}
}
