//go:build unix

package e2e

// A WebSocket or an event stream lives only as long as its session: the
// operator's reset-code or disable closes it within a second, on any
// instance, and so does the end of the session's time; an upgrade without
// a session never reaches the backend.

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	marketWS     = "/dashboards/market/ws"
	marketEvents = "/dashboards/market/events"
	salesWS      = "/reports/sales/ws"
	streamsTotal = "caddy_anonymous_access_streams_closed_total"
)

// TestE2EStreamsEndWhenTheOperatorRevokes: a WebSocket echo and an event
// stream work through the gateway with a session; reset-code closes both
// within a second of the CLI returning and leaves another app's stream
// alone, which disable then closes (and counts as revoked).
func TestE2EStreamsEndWhenTheOperatorRevokes(t *testing.T) {
	t.Parallel()
	sb := newStreamBackend(t)
	g := startGateway(t, t.TempDir(), sb.backend, gatewayConfig{})
	c := newClient(t)
	market := g.open(t, c, "market", g.link(t, "market"))
	sales := g.open(t, c, "sales", g.link(t, "sales"))

	ws := openWebSocket(t, c, g, market, marketWS)
	events := openEventStream(t, c, g, market, marketEvents)
	other := openWebSocket(t, c, g, sales, salesWS)
	sb.wantLive(t, 3, "the backend serves the three streams")
	wantUpgradeSeen(t, sb.backend, marketWS, "market")

	started, returned := cliTimed(t, g, "reset-code", "market")
	lat := closeLatencies(t, returned, time.Second, ws, events)
	t.Logf("reset-code: WebSocket closed %v, event stream %v after the CLI returned (%v, %v after it started)",
		lat[0], lat[1], ws.closedAt.Sub(started), events.closedAt.Sub(started))
	sb.wantLive(t, 1, "the backend's ends of the revoked streams are closed")
	other.wantAlive(t)

	_, resp, err := dialWebSocket(t, c, g, marketWS, market.cookieHeader())
	wantRefusedUpgrade(t, "upgrade with the reset session", resp, err, http.StatusUnauthorized, "session_revoked")

	before := streamsClosed(t, g, "revoked")
	started, returned = cliTimed(t, g, "disable", "sales")
	lat = closeLatencies(t, returned, time.Second, other)
	t.Logf("disable: WebSocket closed %v after the CLI returned (%v after it started)", lat[0], other.closedAt.Sub(started))
	sb.wantLive(t, 0, "the backend's end of the disabled app's stream is closed")
	if got := streamsClosed(t, g, "revoked"); got != before+1 {
		t.Errorf("%s{reason=revoked} went from %v to %v when disable closed one WebSocket", streamsTotal, before, got)
	}
}

// TestE2EUpgradeWithoutSessionIsRefused: a WebSocket upgrade or an event
// stream without a session, with a forged one, or with another app's
// session is refused like any request, and never reaches the backend.
func TestE2EUpgradeWithoutSessionIsRefused(t *testing.T) {
	t.Parallel()
	sb := newStreamBackend(t)
	g := startGateway(t, t.TempDir(), sb.backend, gatewayConfig{})
	c := newClient(t)
	sales := g.open(t, c, "sales", g.link(t, "sales"))

	cases := []struct {
		name   string
		hdr    http.Header
		status int
		code   string
	}{
		{"no session", http.Header{}, http.StatusUnauthorized, "no_session"},
		{"forged session", http.Header{"Cookie": {cookiePrefix + "market=" + tokenHeader + ".e30.x"}}, http.StatusUnauthorized, "no_session"},
		{"another app's session", sales.cookieHeader(), http.StatusForbidden, "not_shared"},
	}
	n := sb.count()
	for _, tc := range cases {
		_, resp, err := dialWebSocket(t, c, g, marketWS, mergeHeaders(tc.hdr, acceptHeader(false)))
		wantRefusedUpgrade(t, "WebSocket upgrade with "+tc.name, resp, err, tc.status, tc.code)

		r := c.do(t, http.MethodGet, g.url(marketEvents), mergeHeaders(tc.hdr, http.Header{"Accept": {"text/event-stream"}}), "")
		wantStatus(t, "event stream with "+tc.name, r, tc.status)
		wantErrorBody(t, "event stream with "+tc.name, r, false)
		if got := errorCode(r); got != tc.code {
			t.Errorf("event stream with %s: error %q, want %q", tc.name, got, tc.code)
		}
	}
	if got := sb.count(); got != n {
		t.Errorf("the backend saw %d refused stream requests", got-n)
	}
	sb.wantLive(t, 0, "no stream at the backend")
}

// TestE2EStreamsEndWhenTheSessionTimeIsUp: with session_ttl 3s a
// WebSocket and an event stream close when the token expires, not
// before, within a second, and an upgrade with the expired cookie starts
// no new session.
func TestE2EStreamsEndWhenTheSessionTimeIsUp(t *testing.T) {
	t.Parallel()
	sb := newStreamBackend(t)
	g := startGateway(t, t.TempDir(), sb.backend, gatewayConfig{SessionTTL: "3s"})
	c := newClient(t)
	market := g.open(t, c, "market", g.link(t, "market"))
	exp := tokenExpiry(t, market.token)

	ws := openWebSocket(t, c, g, market, marketWS)
	events := openEventStream(t, c, g, market, marketEvents)
	if time.Until(exp) < 500*time.Millisecond {
		t.Fatalf("the session expires %v after the streams opened: too little to tell early from on time", time.Until(exp))
	}
	for _, s := range []*stream{ws, events} {
		closed := s.waitClosed(t, exp.Add(5*time.Second))
		switch d := closed.Sub(exp); {
		case d < -100*time.Millisecond:
			t.Errorf("%s closed %v before its session's end", s.what, -d)
		case d >= time.Second:
			t.Errorf("%s closed %v after its session's end, want within 1s", s.what, d)
		default:
			t.Logf("%s closed %v after the session's end", s.what, d.Round(time.Millisecond))
		}
	}
	sb.wantLive(t, 0, "the backend's ends of the expired streams are closed")

	n := sb.count()
	_, resp, err := dialWebSocket(t, c, g, marketWS, mergeHeaders(market.cookieHeader(),
		http.Header{"Sec-Fetch-Dest": {"websocket"}, "Sec-Fetch-Mode": {"websocket"}}))
	wantRefusedUpgrade(t, "upgrade with the expired session", resp, err, http.StatusUnauthorized, "session_expired")
	if resp != nil && len(resp.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("an upgrade with an expired session set %q: only a page load renews", resp.Header.Values("Set-Cookie"))
	}
	if sb.count() != n {
		t.Error("the upgrade with the expired session reached the backend")
	}
}

// TestE2ERedisStreamsEndOnEveryInstance: on two instances sharing Redis,
// streams opened through instance A (and one through B) close within a
// second of a reset-code made on instance B.
func TestE2ERedisStreamsEndOnEveryInstance(t *testing.T) {
	t.Parallel()
	rc, _ := newRedisCluster(t, 0, gatewayConfig{})
	sb := newStreamBackend(t)
	rc.backend = sb.backend
	a, b := rc.start(t.TempDir()), rc.start(t.TempDir())
	c := newClient(t)
	market := rc.open(a, c, "market", rc.link("market", a, b))
	sales := rc.open(b, c, "sales", rc.link("sales", a, b))

	wsA := openWebSocket(t, c, a, market, marketWS)
	eventsA := openEventStream(t, c, a, market, marketEvents)
	wsB := openWebSocket(t, c, b, market, marketWS)
	other := openWebSocket(t, c, a, sales, salesWS)
	sb.wantLive(t, 4, "the backend serves the four streams")

	started, returned := cliTimed(t, b, "reset-code", "market")
	lat := closeLatencies(t, returned, revocationBound, wsA, eventsA, wsB)
	t.Logf("reset-code on B: on A WebSocket closed %v, event stream %v; on B WebSocket %v after the CLI returned (%v, %v, %v after it started)",
		lat[0], lat[1], lat[2], wsA.closedAt.Sub(started), eventsA.closedAt.Sub(started), wsB.closedAt.Sub(started))
	sb.wantLive(t, 1, "the backend's ends of the revoked streams are closed")
	other.wantAlive(t)

	// Each instance counts what it closed. The event stream's count is
	// TestE2EClosedStreamsAreCounted's: here only the WebSockets'.
	if got := streamsClosed(t, b, "revoked"); got != 1 {
		t.Errorf("instance B closed one WebSocket: %s{reason=revoked} = %v, want 1", streamsTotal, got)
	}
	if got := streamsClosed(t, a, "revoked"); got < 1 {
		t.Errorf("instance A closed a WebSocket: %s{reason=revoked} = %v, want at least 1", streamsTotal, got)
	}
}

// TestE2EClosedStreamsAreCounted: every stream the gateway ends is
// counted by why, a WebSocket and an event stream alike: two revoked by
// reset-code, two expired when their session's time was up.
func TestE2EClosedStreamsAreCounted(t *testing.T) {
	t.Parallel()
	sb := newStreamBackend(t)
	g := startGateway(t, t.TempDir(), sb.backend, gatewayConfig{SessionTTL: "3s"})
	c := newClient(t)
	market := g.open(t, c, "market", g.link(t, "market"))
	sales := g.open(t, c, "sales", g.link(t, "sales"))
	revoked := []*stream{openWebSocket(t, c, g, market, marketWS), openEventStream(t, c, g, market, marketEvents)}
	expired := []*stream{openWebSocket(t, c, g, sales, salesWS), openEventStream(t, c, g, sales, "/reports/sales/events")}

	_, returned := cliTimed(t, g, "reset-code", "market")
	closeLatencies(t, returned, time.Second, revoked...)
	for _, s := range expired {
		if !s.isOpen() {
			t.Fatalf("%s of the other app closed with the reset (after %v)", s.what, s.closedAt.Sub(returned))
		}
	}
	for _, s := range expired {
		s.waitClosed(t, tokenExpiry(t, sales.token).Add(5*time.Second))
	}
	sb.wantLive(t, 0, "every stream at the backend is closed")

	for _, reason := range []string{"revoked", "expired"} {
		if got := streamsClosed(t, g, reason); got != 2 {
			t.Errorf("a WebSocket and an event stream were closed as %s: %s{tenant=%q,reason=%q} = %v, want 2",
				reason, streamsTotal, e2eTenant, reason, got)
		}
	}
}

// streamsClosed is g's count of streams it closed for reason.
func streamsClosed(t *testing.T, g *gateway, reason string) float64 {
	t.Helper()
	_, samples := g.metrics(t)
	v, _ := metricValue(samples, streamsTotal, map[string]string{"tenant": e2eTenant, "reason": reason})
	return v
}

// cliTimed runs a CLI verb on g and returns when it started and when it
// returned.
func cliTimed(t *testing.T, g *gateway, args ...string) (started, returned time.Time) {
	t.Helper()
	started = time.Now()
	g.mustCLI(t, args...)
	return started, time.Now()
}

// wantUpgradeSeen checks that the backend got the upgrade to path with
// the gateway's header for app and without the session cookie.
func wantUpgradeSeen(t *testing.T, be *backend, path, app string) {
	t.Helper()
	for _, r := range be.requests() {
		if r.Path != path {
			continue
		}
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || r.Header.Get("X-Anonymous-App") != app ||
			r.Header.Get("X-Anonymous-Session") == "" || strings.Contains(strings.Join(r.Header.Values("Cookie"), ";"), cookiePrefix) {
			t.Errorf("the backend saw the upgrade to %s with Upgrade %q, X-Anonymous-App %q, X-Anonymous-Session %q, Cookie %q",
				path, r.Header.Get("Upgrade"), r.Header.Get("X-Anonymous-App"), r.Header.Get("X-Anonymous-Session"), r.Header.Values("Cookie"))
		}
		return
	}
	t.Errorf("the backend never saw the upgrade to %s", path)
}

// wantRefusedUpgrade checks a WebSocket handshake the gateway refused:
// the status, and the JSON error code unless code is empty.
func wantRefusedUpgrade(t *testing.T, what string, resp *http.Response, err error, wantStatus int, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: the upgrade succeeded", what)
	}
	if resp == nil {
		t.Fatalf("%s: no response: %v", what, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s: status %d, want %d; body %s", what, resp.StatusCode, wantStatus, body)
	}
	r := reply{Status: resp.StatusCode, Header: resp.Header, Body: body}
	wantErrorBody(t, what, r, false)
	if got := errorCode(r); code != "" && got != code {
		t.Errorf("%s: error %q, want %q", what, got, code)
	}
}

// tokenExpiry reads the exp of a session token.
func tokenExpiry(t *testing.T, token string) time.Time {
	return time.Unix(tokenClaims(t, token).Exp, 0)
}
