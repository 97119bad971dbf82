//go:build unix

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// waitText waits until the page's visible text contains want, across
// navigations (the landing page replaces itself with the entry).
func waitText(want string) chromedp.Action {
	return waitJS(`document.body !== null && document.body.innerText.includes(`+js(want)+`)`, 15*time.Second)
}

// waitJS evaluates cond every 50 ms until it is true or timeout passes.
// An evaluation interrupted by a navigation is tried again.
func waitJS(cond string, timeout time.Duration) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		deadline := time.Now().Add(timeout)
		for {
			var ok bool
			err := chromedp.Evaluate(cond, &ok).Do(ctx)
			if err == nil && ok {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("still not so after %v: %s (last error: %v)", timeout, cond, err)
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
}

// linkURL is an app's public link as the gateway hands it out.
func (g *gateway) linkURL(t *testing.T, app string) string {
	t.Helper()
	return g.url("/_anon/open/" + app + "#code=" + g.link(t, app))
}

// TestBrowserOpenLink opens a link in Chromium: the landing page starts
// the session and lands on the entry, and the code leaves the address bar.
func TestBrowserOpenLink(t *testing.T) {
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{})
	tab := freshContext(t, newBrowser(t))
	var loc string
	browse(t, tab, "opening the link",
		chromedp.Navigate(g.linkURL(t, "market")),
		waitText("backend GET "+marketEntry),
		chromedp.Location(&loc))
	if loc != g.url(marketEntry) {
		t.Fatalf("landed on %s", loc)
	}
}

// TestBrowserAnonymousPages shows the pages anonymous users meet: a dead
// link, a full capacity with its countdown and automatic retry, and a
// session that ended.
func TestBrowserAnonymousPages(t *testing.T) {
	t.Parallel() // most of it is waiting for a countdown and an expiry
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{Capacity: 1, SessionTTL: "5s"})
	browser := newBrowser(t)

	dead := freshContext(t, browser)
	browse(t, dead, "a link with a wrong code",
		chromedp.Navigate(g.url("/_anon/open/market#code=not-the-code")),
		waitText("This link is not valid"))

	// Fill the capacity from elsewhere, then open the link in the browser.
	full := freshContext(t, browser)
	holder := newClient(t)
	g.open(t, holder, "sales", g.link(t, "sales"))
	browse(t, full, "a link while the capacity is full",
		chromedp.Navigate(g.linkURL(t, "market")),
		waitText("Too many viewers right now"),
		waitText("Trying again in "))
	// The countdown starts at the Retry-After (30 s) and goes down.
	const secondsLeft = `parseInt(document.getElementById('hint').textContent.replace('Trying again in ', ''), 10)`
	var first, later int
	browse(t, full, "the countdown shows",
		waitJS(secondsLeft+` > 0`, 5*time.Second),
		chromedp.Evaluate(secondsLeft, &first))
	browse(t, full, "the countdown runs",
		waitJS(secondsLeft+` < `+strconv.Itoa(first), 5*time.Second),
		chromedp.Evaluate(secondsLeft, &later))
	screenshot(t, full, "capacity-full")
	if first < 28 || first > 30 || later >= first {
		t.Fatalf("countdown %d then %d", first, later)
	}
	// The holder's session ends after 5 s; the page retries by itself
	// when its countdown (Retry-After, 30 s) reaches zero and lands on
	// the dashboard.
	browse(t, full, "the automatic retry after the countdown",
		waitJS(`document.body !== null && document.body.innerText.includes('backend GET `+marketEntry+`')`, 45*time.Second))

	// The session ends after its 5 s; reloading the page starts a new one.
	browse(t, full, "the session ends",
		waitJS(`(function () {
			var x = new XMLHttpRequest();
			x.open('GET', '/_anon/session', false);
			x.send();
			return JSON.parse(x.responseText).sessions.length === 0;
		})()`, 20*time.Second))
	_, before := g.metrics(t)
	renewed, _ := metricValue(before, "caddy_anonymous_access_sessions_started_total", map[string]string{"app": "market", "kind": "renewal"})
	browse(t, full, "a reload after the session ended",
		chromedp.Reload(),
		waitText("backend GET "+marketEntry))
	_, after := g.metrics(t)
	if n, _ := metricValue(after, "caddy_anonymous_access_sessions_started_total", map[string]string{"app": "market", "kind": "renewal"}); n != renewed+1 {
		t.Fatalf("renewals %v then %v: the reload did not start a new session", renewed, n)
	}
}

// TestBrowserEmbedOnAnotherSite pastes the embed code into a page of
// another site: under Chromium's default third-party cookie blocking the
// iframe starts a partitioned session and shows the app, and a site not
// allowed by the app's frame-ancestors gets nothing.
func TestBrowserEmbedOnAnotherSite(t *testing.T) {
	allowed, allowedPort := embedderSite(t)
	refused, _ := embedderSite(t)
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{ExtraEmbedOrigins: fmt.Sprintf(" http://localhost:%d", allowedPort)})
	html := g.embedCode(t, "market")
	allowed.set(html)
	refused.set(html)
	// Third-party cookies blocked, as Chromium is phasing them out: only a
	// partitioned cookie works in the iframe.
	browser := newBrowser(t, chromedp.Flag("test-third-party-cookie-phaseout", true))

	tab := browser
	browse(t, tab, "the embedding page on an allowed site",
		chromedp.Navigate(allowed.url),
		chromedp.WaitVisible("iframe", chromedp.ByQuery))
	waitUntil(t, time.Now().Add(15*time.Second), "the iframe loads the app with its session", func() (bool, string) {
		return be.sawIframe(marketEntry), fmt.Sprintf("%d backend requests", be.count())
	})
	browse(t, iframeTab(t, tab), "the iframe shows the app's entry", waitText("backend GET "+marketEntry))
	screenshot(t, tab, "embed")
	var cookies []*network.Cookie
	browse(t, tab, "reading the browser's cookies", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = storage.GetCookies().Do(ctx)
		return err
	}))
	var partitioned bool
	for _, c := range cookies {
		if c.Name == cookiePrefix+"market" {
			partitioned = c.PartitionKey != nil && strings.HasPrefix(c.PartitionKey.TopLevelSite, "http://localhost")
			if !partitioned || c.SameSite != network.CookieSameSiteNone || !c.Secure || !c.HTTPOnly {
				t.Fatalf("the embed's session cookie: %+v (partition %+v)", c, c.PartitionKey)
			}
		}
	}
	if !partitioned {
		t.Fatalf("no session cookie partitioned under the embedding site among %d cookies", len(cookies))
	}
	if n := g.capacity(t).Active; n != 1 {
		t.Fatalf("live sessions after the embed: %d", n)
	}

	other := freshContext(t, nil)
	browse(t, other, "the embedding page on a site the app does not allow",
		chromedp.Navigate(refused.url),
		chromedp.WaitVisible("iframe", chromedp.ByQuery),
		waitJS(`document.title === 'framed'`, 10*time.Second))
	frameURL := location(t, iframeTab(t, other))
	if !strings.HasPrefix(frameURL, "chrome-error://") {
		t.Fatalf("the refused site's iframe shows %q, want Chromium's blocked-frame page", frameURL)
	}
	if n := g.capacity(t).Active; n != 1 {
		t.Fatalf("the refused site started a session: %d live", n)
	}
}

// embedder is a page on another site that holds an embed code.
type embedder struct {
	url  string
	html chan string
	page string
}

func (e *embedder) set(code string) {
	e.page = `<!doctype html><title>embedder</title><h1>Our site</h1>` +
		strings.Replace(code, "<iframe ", `<iframe onload="document.title='framed'" `, 1)
}

// embedderSite serves a page at http://localhost:<port>/, which is another
// site than the gateway's 127.0.0.1.
func embedderSite(t *testing.T) (*embedder, int) {
	t.Helper()
	port := freePort(t)
	e := &embedder{url: fmt.Sprintf("http://localhost:%d/", port)}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, e.page)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return e, port
}

// sawIframe reports whether an iframe's page load of path reached the
// backend with an anonymous session.
func (b *backend) sawIframe(path string) bool {
	for _, r := range b.requests() {
		if r.Path == path && r.Header.Get("Sec-Fetch-Dest") == "iframe" && r.Header.Get("X-Anonymous-App") != "" {
			return true
		}
	}
	return false
}

// embedCode is an app's embed code from the admin API.
func (g *gateway) embedCode(t *testing.T, app string) string {
	t.Helper()
	var out struct{ HTML string }
	if err := json.Unmarshal(g.adminGet(t, "/anonymous-access/apps/"+app+"/embed-code"), &out); err != nil || out.HTML == "" {
		t.Fatalf("embed code of %s: %v", app, err)
	}
	return out.HTML
}

// iframeTab attaches to the tab's cross-site iframe, which runs in a
// process of its own: its page cannot be read from the embedding page.
// The attachment lasts until the test ends; ending it earlier would close
// the frame.
func iframeTab(t *testing.T, tab context.Context) context.Context {
	t.Helper()
	targets, err := chromedp.Targets(tab)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if tg.Type == "iframe" {
			frame, cancel := chromedp.NewContext(tab, chromedp.WithTargetID(tg.TargetID))
			t.Cleanup(cancel)
			return frame
		}
	}
	t.Fatal("the page has no cross-site iframe")
	return nil
}

// location is the address of the document in a tab or frame.
func location(t *testing.T, tab context.Context) string {
	t.Helper()
	var loc string
	browse(t, tab, "reading the address", chromedp.Evaluate(`location.href`, &loc))
	return loc
}
