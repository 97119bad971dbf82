//go:build unix

package e2e

// An anonymous viewer in Chromium over HTTPS with HTTP/2 (Caddy's `tls
// internal`; the browser, a throwaway profile on loopback, ignores that
// its CA is unknown): the demo dashboard of examples/ and Prometheus's
// graph page, each with its README recipe.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// newHTTPSBrowser is a browser that accepts the certificates of the
// test's own CA.
func newHTTPSBrowser(t *testing.T) context.Context {
	t.Helper()
	return newBrowser(t, chromedp.Flag("ignore-certificate-errors", true))
}

// TestBrowserDemoDashboardOverHTTPS: the README's demo recipe (the market
// app of Caddyfile.example) serving examples/ over HTTPS: the link lands on
// the dashboard, which draws its data, everything over HTTP/2; the session
// cookie is in the browser but out of the page's scripts' reach; the
// dashboard next door is refused.
func TestBrowserDemoDashboardOverHTTPS(t *testing.T) {
	example, err := os.ReadFile(filepath.Join(pluginRoot, "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	demo := recipe(t, "market")
	if got, want := withoutComments(demo), withoutComments(appBlock(string(example), "market")); got != want {
		t.Fatalf("the README's demo recipe is not Caddyfile.example's market app:\n%s\n--- Caddyfile.example:\n%s", got, want)
	}
	g := startSite(t, site{TLS: true, Apps: demo, Routes: "root * " + filepath.Join(pluginRoot, "examples") + "\n\tfile_server"})
	tab := newHTTPSBrowser(t)
	browse(t, tab, "opening the link over https",
		chromedp.Navigate(g.linkURL(t, "market")),
		waitJS(`location.pathname === '/dashboards/market.html' && document.querySelectorAll('#latest tbody td.num').length > 0`, 20*time.Second))
	if loc := location(t, tab); loc != g.url(marketEntry) {
		t.Fatalf("landed on %s, want %s", loc, g.url(marketEntry))
	}
	wantLoadedOverHTTP2(t, tab, "/dashboards/market.html", "/assets/chart.js", "/data/market.json")
	wantSessionCookieHidden(t, tab, "market")
	statuses := fetchStatuses(t, tab, "/dashboards/internal.html", "/data/market.json")
	if !slices.Equal(statuses, []int{403, 200}) {
		t.Fatalf("the page fetched /dashboards/internal.html and /data/market.json: %v, want [403 200]", statuses)
	}
	screenshot(t, tab, "demo-dashboard-over-https")
}

// TestBrowserPrometheusThroughTheGateway: the README's Prometheus recipe
// over HTTPS: the link opens Prometheus's graph page, which draws the
// graph of up and lists the metrics from its API calls, all over HTTP/2
// with the session; the pages of its menu that show the configuration are
// refused, and Prometheus never saw them.
func TestBrowserPrometheusThroughTheGateway(t *testing.T) {
	p, g := startPrometheusSite(t, true)
	// The graph page asks for the last hour in 14 s steps, ending now:
	// wait until this young prometheus has a sample such a step sees.
	waitUntil(t, time.Now().Add(30*time.Second), "prometheus can draw the graph of up", func() (bool, string) {
		now := time.Now().Unix()
		n, err := p.series(fmt.Sprintf("/api/v1/query_range?query=up&start=%d&end=%d&step=14", now-3600, now))
		return err == nil && n > 0, fmt.Sprintf("%d series (%v)", n, err)
	})
	tab := newHTTPSBrowser(t)
	legend := fmt.Sprintf(`up{instance="%s",job="prometheus"}`, p.addr)
	browse(t, tab, "opening the prom link over https",
		chromedp.Navigate(g.linkURL(t, "prom")),
		waitTextWithin(legend, 30*time.Second),
		waitJS(`document.querySelectorAll('select[name=insert_metric] option').length > 50`, 15*time.Second),
		waitJS(`document.querySelectorAll('.graph_area svg path').length > 0`, 15*time.Second))
	// The page adds its own settings to the address (g0.range_input).
	if loc, err := url.Parse(location(t, tab)); err != nil || loc.Scheme+"://"+loc.Host+loc.Path != g.url("/classic/graph") || loc.Query().Get("g0.expr") != "up" {
		t.Fatalf("landed on %v, want %s", loc, g.url(promEntry))
	}
	wantLoadedOverHTTP2(t, tab, "/classic/graph", "/classic/static/js/graph/index.js",
		"/api/v1/query", "/api/v1/query_range", "/api/v1/label/__name__/values")
	wantSessionCookieHidden(t, tab, "prom")
	statuses := fetchStatuses(t, tab, "/classic/config", "/api/v1/status/config", "/api/v1/targets", "/api/v1/query?query=up")
	if !slices.Equal(statuses, []int{403, 403, 403, 200}) {
		t.Fatalf("the page fetched its menu's config, the config and targets APIs, and a query: %v, want [403 403 403 200]", statuses)
	}
	// The viewer narrows the graph to the last minute, where this young
	// prometheus's samples show.
	browse(t, tab, "graphing the last minute",
		chromedp.SetValue(`input[name=range_input]`, "1m", chromedp.ByQuery),
		chromedp.Click(`.execute_btn`, chromedp.ByQuery),
		waitText("Resolution: 1s"),
		waitJS(`document.querySelectorAll('.graph_area svg path').length > 0`, 15*time.Second))
	served := p.served(t)
	if served["/api/v1/query_range"] == 0 || served["/classic/config"] != 0 || served["/api/v1/status/config"] != 0 || served["/api/v1/targets"] != 0 {
		t.Fatalf("prometheus served %v", served)
	}
	screenshot(t, tab, "prometheus-through-gateway")
}

// loadEntry is what the browser's performance entries say of one thing
// the page loaded.
type loadEntry struct {
	Path, Protocol string
	Status         int
}

// wantLoadedOverHTTP2: for each path, the page or one of its resources
// came from this path with a 200 over HTTP/2, as the browser's own
// performance entries say.
func wantLoadedOverHTTP2(t *testing.T, tab context.Context, paths ...string) {
	t.Helper()
	var entries []loadEntry
	browse(t, tab, "reading the performance entries", chromedp.Evaluate(`performance.getEntries()
		.filter(e => e.entryType === 'navigation' || e.entryType === 'resource')
		.map(e => ({Path: new URL(e.name).pathname, Protocol: e.nextHopProtocol, Status: e.responseStatus}))`, &entries))
	for _, path := range paths {
		i := slices.IndexFunc(entries, func(e loadEntry) bool { return e.Path == path })
		switch {
		case i < 0:
			t.Errorf("the page loaded nothing from %s; it loaded %v", path, entries)
		case entries[i].Protocol != "h2" || entries[i].Status != 200:
			t.Errorf("%s: %s %d, want h2 200", path, entries[i].Protocol, entries[i].Status)
		}
	}
}

// wantSessionCookieHidden: the browser holds app's session cookie,
// __Host-, Secure, HttpOnly and SameSite=Lax, and the page's scripts
// cannot see it.
func wantSessionCookieHidden(t *testing.T, tab context.Context, app string) {
	t.Helper()
	var cookies []*network.Cookie
	var visible string
	browse(t, tab, "reading the cookies", chromedp.Evaluate(`document.cookie`, &visible), chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = storage.GetCookies().Do(ctx)
		return err
	}))
	i := slices.IndexFunc(cookies, func(c *network.Cookie) bool { return c.Name == cookiePrefix+app })
	if i < 0 {
		t.Fatalf("the browser holds no %s%s among %d cookies", cookiePrefix, app, len(cookies))
	}
	if c := cookies[i]; !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteLax || c.Path != "/" {
		t.Errorf("the session cookie: %+v", c)
	}
	if visible != "" {
		t.Errorf("document.cookie = %q, want nothing: the session cookie is HttpOnly", visible)
	}
}

// fetchStatuses fetches each path from the page, as its scripts would, and
// returns the statuses.
func fetchStatuses(t *testing.T, tab context.Context, paths ...string) []int {
	t.Helper()
	list, _ := json.Marshal(paths)
	var statuses []int
	browse(t, tab, "fetching from the page", chromedp.Evaluate(
		`Promise.all(`+string(list)+`.map(p => fetch(p).then(r => r.status)))`, &statuses,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	return statuses
}
