//go:build unix

package e2e

// An anonymous viewer in Chromium: a link lands on the app, and the pages
// met on the way (a dead link, a full capacity, an ended session).

import (
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserOpenLink opens a link in Chromium: the landing page starts
// the session and lands on the entry, and the code leaves the address bar.
func TestBrowserOpenLink(t *testing.T) {
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{})
	tab := newBrowser(t)
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

	dead := newBrowser(t)
	browse(t, dead, "a link with a wrong code",
		chromedp.Navigate(g.url("/_anon/open/market#code=not-the-code")),
		waitText("This link is not valid"))

	// Fill the capacity from elsewhere, then open the link in the browser.
	full := newBrowser(t)
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
		waitTextWithin("backend GET "+marketEntry, 45*time.Second))

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
