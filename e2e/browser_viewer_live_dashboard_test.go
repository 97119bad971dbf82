//go:build unix

package e2e

// A live dashboard in Chromium: the entry's own script opens a WebSocket
// back to the gateway, which the browser upgrades with the session cookie,
// and the operator's reset-code closes it under the page's feet.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// livePage is the market entry of a dashboard with live data: it opens a
// WebSocket to marketWS on its own origin, sends a tick every 100 ms and
// shows the last echo and the socket's state, "closed" once it ends.
const livePage = `<!doctype html>
<html lang="en">
<title>Live market</title>
<h1>Live market</h1>
<p>Socket: <span id="state">connecting</span></p>
<p>Last update: <output id="live">none</output></p>
<script>
const state = document.getElementById('state');
const live = document.getElementById('live');
const ws = new WebSocket(new URL('` + marketWS + `', location.href).href.replace(/^http/, 'ws'));
let n = 0, timer;
ws.onopen = () => {
  state.textContent = 'open';
  timer = setInterval(() => ws.send('tick ' + ++n), 100);
};
ws.onmessage = (e) => { live.textContent = e.data; };
ws.onclose = () => {
  clearInterval(timer);
  state.textContent = 'closed';
};
</script>
`

// newLiveBackend is a stream backend whose market entry is livePage.
func newLiveBackend(t *testing.T) *streamBackend {
	sb := &streamBackend{}
	sb.backend = startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != marketEntry {
			sb.answer(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(livePage))
	})
	return sb
}

// TestBrowserLiveDashboardEndsOnReset: a viewer opens market's link in
// Chromium and lands on a page whose script opens a WebSocket through the
// gateway: the browser's upgrade carries the session cookie, so the echoes
// stream in (two different ticks, not one lucky message). After the
// operator's reset-code the page's socket closes, and its onclose says so,
// within two seconds of the CLI returning.
func TestBrowserLiveDashboardEndsOnReset(t *testing.T) {
	sb := newLiveBackend(t)
	g := startGateway(t, t.TempDir(), sb.backend, gatewayConfig{})

	tab := newBrowser(t)
	const tick = `(/^echo tick (\d+)$/.exec(document.getElementById('live')?.textContent || '') || [])[1]`
	var first string
	browse(t, tab, "opening the link to the live dashboard",
		chromedp.Navigate(g.linkURL(t, "market")),
		waitJS(`document.getElementById('state')?.textContent === 'open'`, 15*time.Second),
		waitJS(tick+` !== undefined`, 5*time.Second),
		chromedp.Evaluate(tick, &first))
	if loc := location(t, tab); loc != g.url(marketEntry) {
		t.Fatalf("the link landed on %s, want the entry", loc)
	}
	browse(t, tab, "later ticks streaming in", waitJS(tick+` !== undefined && `+tick+` !== `+js(first), 5*time.Second))
	sb.wantLive(t, 1, "the backend serves the page's WebSocket")
	wantUpgradeSeen(t, sb.backend, marketWS, "market")

	_, returned := cliTimed(t, g, "reset-code", "market")
	browse(t, tab, "the page's socket closing", waitJS(`document.getElementById('state').textContent === 'closed'`, 2*time.Second))
	t.Logf("the page said its socket closed within %v of reset-code returning", time.Since(returned).Round(time.Millisecond))
	sb.wantLive(t, 0, "the backend's end of the page's WebSocket is closed")
	if text := pageText(t, tab); !strings.Contains(text, "Socket: closed") {
		t.Fatalf("the page does not say its socket closed:\n%s", text)
	}
}
