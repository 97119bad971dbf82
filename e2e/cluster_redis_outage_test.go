//go:build unix

package e2e

// Redis down or out of reach: instances fail closed and catch up when it
// is back.

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// The load of TestE2ERedisOutageFailsClosedAndRecovers.
const (
	outageWorkers     = 4
	outageMaxRequests = 20000 // all workers together
	outageMaxLoadTime = 20 * time.Second
	// outageHeld is how long Redis stays down at least: long enough to
	// see live sessions outlast the feed's loss, well inside its grace
	// period.
	outageHeld = 1500 * time.Millisecond
)

// TestE2ERedisOutageFailsClosedAndRecovers: Redis killed under load; the
// instances fail closed, keep live sessions and recover alone.
func TestE2ERedisOutageFailsClosedAndRecovers(t *testing.T) {
	t.Parallel()
	rc, gws := newRedisCluster(t, 2, gatewayConfig{Capacity: 100000})
	a, b := gws[0], gws[1]
	code := rc.link("market", a, b)
	c := newClient(t)
	live := []session{rc.open(a, c, "market", code), rc.open(b, c, "market", code)}
	load := startLoad(t, gws, code, len(live))

	waitUntil(t, time.Now().Add(10*time.Second), "the load admits sessions", func() (bool, string) {
		n, _ := load.counts()
		return n >= 20+len(live), fmt.Sprintf("%d admitted", n)
	})
	rc.redis.Kill()
	killedAt := time.Now()
	_, refusedAtKill := load.counts()

	probe := newClient(t)
	wantFailsClosed(t, gws, probe, code, load, refusedAtKill)
	// Live sessions go on within the feed's grace period: they are
	// checked throughout the first seconds of the outage, long after
	// the instances noticed it (their redemptions fail).
	for checks := 0; checks == 0 || time.Since(killedAt) < outageHeld; checks++ {
		for i, g := range gws {
			for _, s := range live {
				wantStatus(t, fmt.Sprintf("live session on gateway %d, %v into the outage", i, time.Since(killedAt).Round(time.Millisecond)),
					getWith(t, c, g, s, marketEntry), http.StatusOK)
			}
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
	for _, g := range gws {
		alive(t, g)
	}

	rc.redis.Restart()
	for i, g := range gws {
		waitUntil(t, time.Now().Add(10*time.Second), fmt.Sprintf("gateway %d admits again after Redis is back", i), func() (bool, string) {
			r, err := postCode(probe, g, code)
			load.add(r, err)
			return err == nil && r.Status == http.StatusSeeOther, fmt.Sprintf("status %d, error %v", r.Status, err)
		})
	}
	load.stop()
	admitted := load.report(t)
	wantRecovered(t, gws, c, live, admitted)

	// The feed is back too: a reset on A reaches B. B may have
	// resubscribed after the notice went out; it rereads on
	// resubscribing, so it refuses within the reconnection backoff.
	a.mustCLI(t, "reset-code", "market")
	waitUntil(t, time.Now().Add(5*time.Second), "B refuses a session reset on A after Redis came back", func() (bool, string) {
		r := getWith(t, c, b, live[1], marketEntry)
		return r.Status == http.StatusUnauthorized, fmt.Sprintf("status %d", r.Status)
	})
	rc.link("market", a, b)
	for _, g := range gws {
		alive(t, g)
	}
}

// redemptionLoad is outageWorkers clients redeeming market's code in a
// loop, alternating instances, until stopped, outageMaxRequests in all or
// outageMaxLoadTime, whichever comes first; with the tally of what they
// and the test's probes saw.
type redemptionLoad struct {
	loadTally
	sent atomic.Int64
	stop func()
}

// startLoad starts the load on gws; already counts admissions made before
// it (the live sessions). It stops at the latest when the test ends.
func startLoad(t *testing.T, gws []*gateway, code string, already int) *redemptionLoad {
	t.Helper()
	l := &redemptionLoad{}
	l.admitted = already
	stop := make(chan struct{})
	var wg sync.WaitGroup
	loadEnds := time.Now().Add(outageMaxLoadTime)
	for w := range outageWorkers {
		wc := newClient(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := w; l.sent.Add(1) <= outageMaxRequests && time.Now().Before(loadEnds); n++ {
				select {
				case <-stop:
					return
				default:
				}
				l.add(postCode(wc, gws[n%2], code))
			}
		}()
	}
	l.stop = sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(l.stop)
	return l
}

// report logs what the stopped load saw, fails the test for each answer
// that was neither an admission nor a 503 with Retry-After, and returns
// how many admissions the clients saw.
func (l *redemptionLoad) report(t *testing.T) int {
	t.Helper()
	admitted, refused := l.counts()
	t.Logf("load: %d requests, %d admitted, %d refused with 503", min(l.sent.Load(), outageMaxRequests), admitted, refused)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, u := range l.unexpects {
		if i == 10 {
			t.Errorf("... and %d more", len(l.unexpects)-i)
			break
		}
		t.Errorf("unexpected answer to a redemption: %s", u)
	}
	return admitted
}

// loadTally counts what a redemption loop saw.
type loadTally struct {
	mu        sync.Mutex
	admitted  int
	refused   int // 503 with Retry-After
	unexpects []string
}

func (l *loadTally) add(r reply, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		l.unexpects = append(l.unexpects, "transport error: "+err.Error())
	case r.Status == http.StatusSeeOther:
		// Its token is caught by tokenHeader if it is ever printed.
		l.admitted++
	case r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") != "":
		l.refused++
	default:
		l.unexpects = append(l.unexpects, fmt.Sprintf("status %d (Retry-After %q) %s", r.Status, r.Header.Get("Retry-After"), r.Body))
	}
}

func (l *loadTally) counts() (admitted, refused int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.admitted, l.refused
}

// wantFailsClosed checks, with Redis down, that new sessions fail closed
// on every instance with Retry-After (the probe's and the load's), that
// the capacity route and store_up say the store is down and that
// reset-code fails.
func wantFailsClosed(t *testing.T, gws []*gateway, probe *client, code string, load *redemptionLoad, refusedAtKill int) {
	t.Helper()
	for i, g := range gws {
		waitUntil(t, time.Now().Add(5*time.Second), fmt.Sprintf("gateway %d refuses redemptions while Redis is down", i), func() (bool, string) {
			r, err := postCode(probe, g, code)
			load.add(r, err)
			if err != nil || r.Status != http.StatusServiceUnavailable {
				return false, fmt.Sprintf("status %d, error %v", r.Status, err)
			}
			retryAfter(t, r)
			if msg := errorCode(r); msg != "store_unavailable" {
				t.Errorf("503 while Redis is down says %q, want %q", msg, policy.ErrStoreUnavailable)
			}
			return true, ""
		})
	}
	waitUntil(t, time.Now().Add(5*time.Second), "the load gets 503s while Redis is down", func() (bool, string) {
		_, refused := load.counts()
		return refused > refusedAtKill, fmt.Sprintf("%d refused", refused)
	})
	for i, g := range gws {
		if got := adminStatus(t, g, "/anonymous-access/capacity"); got != http.StatusServiceUnavailable {
			t.Errorf("gateway %d's capacity route while Redis is down: %d, want 503", i, got)
		}
		_, samples := g.metrics(t)
		wantMetric(t, samples, "caddy_anonymous_access_store_up", map[string]string{"tenant": e2eTenant}, 0)
	}
	if _, err := gws[0].cli("reset-code", "market"); err == nil {
		t.Error("reset-code succeeded while Redis is down")
	}
}

// wantRecovered checks, with Redis back, that every instance reports the
// store up, counts every admission the clients saw, and still serves the
// live sessions. Every admission the clients saw survived the kill (the
// server fsyncs before it replies); admissions whose reply the kill cut
// off may count too, at most one per request then in flight.
func wantRecovered(t *testing.T, gws []*gateway, c *client, live []session, admitted int) {
	t.Helper()
	for i, g := range gws {
		waitUntil(t, time.Now().Add(5*time.Second), fmt.Sprintf("gateway %d reports the store up", i), func() (bool, string) {
			_, samples := g.metrics(t)
			v, ok := metricValue(samples, "caddy_anonymous_access_store_up", map[string]string{"tenant": e2eTenant})
			return ok && v == 1, fmt.Sprintf("store_up %v (present %v)", v, ok)
		})
		rep := g.capacity(t)
		if rep.Active < admitted || rep.Active > admitted+outageWorkers+len(gws) {
			t.Errorf("gateway %d's capacity route after recovery = %+v; clients saw %d admitted", i, rep.Active, admitted)
		}
		for _, s := range live {
			wantStatus(t, fmt.Sprintf("live session on gateway %d after recovery", i), getWith(t, c, g, s, marketEntry), http.StatusOK)
		}
	}
}

// TestE2ERedisCutOffInstanceResyncs: an instance cut off from Redis
// catches up when it is back.
func TestE2ERedisCutOffInstanceResyncs(t *testing.T) {
	t.Parallel()
	rc, gws := newRedisCluster(t, 1, gatewayConfig{})
	a := gws[0]
	link := newPartition(t, rc.redis.Addr())
	cfgB := rc.cfg
	cfgB.RedisURL = link.URL()
	b := rc.startWith(t.TempDir(), cfgB)
	c := newClient(t)
	old := rc.link("market", a, b)
	s := rc.open(b, c, "market", old)
	wantStatus(t, "session on B", getWith(t, c, b, s, marketEntry), http.StatusOK)

	link.setCut(true)
	waitUntil(t, time.Now().Add(5*time.Second), "B refuses redemptions while cut off from Redis", func() (bool, string) {
		r := b.redeem(t, newClient(t), http.MethodPost, "market", url.Values{"code": {old}})
		if r.Status == http.StatusServiceUnavailable {
			retryAfter(t, r)
		}
		return r.Status == http.StatusServiceUnavailable, fmt.Sprintf("status %d", r.Status)
	})
	// A, still connected, admits and resets the code: its notice cannot
	// reach B.
	rc.open(a, c, "market", old)
	a.mustCLI(t, "reset-code", "market")
	fresh := a.link(t, "market")
	rc.secret(fresh)

	link.setCut(false)
	// B's feed reconnects within its backoff (at most a second) and
	// rereads the state, since notices sent meanwhile were lost.
	waitUntil(t, time.Now().Add(5*time.Second), "B refuses the session reset while it was cut off", func() (bool, string) {
		r := getWith(t, c, b, s, marketEntry)
		return r.Status == http.StatusUnauthorized, fmt.Sprintf("status %d", r.Status)
	})
	if got := b.link(t, "market"); got != fresh {
		t.Error("B hands out the access code from before the reset")
	}
	r := b.redeem(t, newClient(t), http.MethodPost, "market", url.Values{"code": {old}})
	wantStatus(t, "old code on B after it caught up", r, http.StatusForbidden)
	rc.open(b, c, "market", fresh)
	alive(t, b)
}
