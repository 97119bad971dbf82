//go:build unix

package e2e

// Cluster mode end to end: several Caddy processes (the binary TestMain
// built) keeping one tenant's state in one real redis-server, each on its
// own ports and directories, as a load balancer would see them. The
// redis-server comes from redistest, which skips these tests when there is
// none (and fails them when CI is set).

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
	"github.com/anonaccess/caddy-anonymous-access/policy/redisstore/redistest"
)

// revocationBound is how soon after a reset or turn-off returns every
// instance must refuse what it revoked (issue 4).
const revocationBound = time.Second

// redisCluster is gateways sharing one redis-server, with what must never
// appear in their output.
type redisCluster struct {
	t       *testing.T
	redis   *redistest.Server
	backend *backend
	cfg     gatewayConfig

	mu      sync.Mutex
	started []*gateway // every process, restarted ones included
	secrets []string   // access codes, session tokens and ids handed out
}

// tokenHeader starts every session token the gateway mints (the encoded
// JWT header {"alg":"HS256","typ":"JWT"}): output holding it holds a token,
// whether or not the test kept that token.
const tokenHeader = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

// newRedisCluster starts a redis-server and n gateways on it.
func newRedisCluster(t *testing.T, n int, cfg gatewayConfig) (*redisCluster, []*gateway) {
	t.Helper()
	rc := &redisCluster{t: t, redis: redistest.Start(t), backend: newBackend(t)}
	cfg.RedisURL = rc.redis.URL()
	rc.cfg = cfg
	// Registered before any gateway's cleanup, so it runs after every
	// gateway has stopped and reads their whole output.
	t.Cleanup(rc.checkOutput)
	gws := make([]*gateway, n)
	for i := range gws {
		gws[i] = rc.start(t.TempDir())
	}
	return rc, gws
}

// start runs a gateway of the cluster with its state under dir.
func (rc *redisCluster) start(dir string) *gateway {
	rc.t.Helper()
	return rc.startWith(dir, rc.cfg)
}

// startWith runs a gateway of the cluster with its own configuration.
func (rc *redisCluster) startWith(dir string, cfg gatewayConfig) *gateway {
	rc.t.Helper()
	g := startGateway(rc.t, dir, rc.backend, cfg)
	rc.mu.Lock()
	rc.started = append(rc.started, g)
	rc.mu.Unlock()
	return g
}

// secret records strings that no gateway may ever print.
func (rc *redisCluster) secret(s ...string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets = append(rc.secrets, s...)
}

// link returns the app's access code as every gateway hands it out, and
// fails unless they all agree.
func (rc *redisCluster) link(app string, gws ...*gateway) string {
	rc.t.Helper()
	code := gws[0].link(rc.t, app)
	for i, g := range gws[1:] {
		if got := g.link(rc.t, app); got != code {
			rc.t.Fatalf("gateway %d hands out another access code for %s than gateway 0", i+1, app)
		}
	}
	rc.secret(code)
	return code
}

// open starts a session on g and records its secrets.
func (rc *redisCluster) open(g *gateway, c *client, app, code string) session {
	rc.t.Helper()
	s := g.open(rc.t, c, app, code)
	rc.secret(s.token, s.jti)
	return s
}

// checkOutput fails the test if any gateway panicked or printed a secret.
func (rc *redisCluster) checkOutput() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, g := range rc.started {
		out := g.stdout.String() + g.stderr.String()
		if strings.Contains(strings.ToLower(out), "panic") {
			rc.t.Errorf("gateway process %d panicked:\n%s", i, out)
		}
		for _, s := range append(rc.secrets, tokenHeader) {
			if s != "" && strings.Contains(out, s) {
				rc.t.Errorf("gateway process %d printed an access code, session token or session id", i)
				break
			}
		}
	}
}

// alive fails the test if g's process has exited.
func alive(t *testing.T, g *gateway) {
	t.Helper()
	select {
	case <-g.exited:
		t.Fatalf("caddy at %s exited: %v\n%s", g.site, g.waitErr, g.stderr.String())
	default:
	}
}

// waitUntil polls cond until it reports true or deadline passes, then fails
// with cond's last account of what it saw. A success counts only if its
// attempt began by the deadline. It returns how long it took.
func waitUntil(t *testing.T, deadline time.Time, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		began := time.Now()
		ok, saw := cond()
		switch {
		case ok && !began.After(deadline):
			return time.Since(start)
		case ok:
			t.Fatalf("%s: only so after %v, past the deadline", what, time.Since(start).Round(time.Millisecond))
		case time.Now().After(deadline):
			t.Fatalf("%s: not so after %v; last saw %s", what, time.Since(start).Round(time.Millisecond), saw)
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

// getWith fetches path on g with s's cookie.
func getWith(t *testing.T, c *client, g *gateway, s session, path string) reply {
	t.Helper()
	return c.do(t, http.MethodGet, g.url(path), s.cookieHeader(), "")
}

// errorMessage is the "error" of a JSON error body.
func errorMessage(r reply) string {
	var body struct{ Error string }
	_ = json.Unmarshal(r.Body, &body)
	return body.Error
}

// adminStatus fetches an admin path and returns its status.
func adminStatus(t *testing.T, g *gateway, path string) int {
	t.Helper()
	resp, err := adminClient.Get("http://" + g.admin + path)
	if err != nil {
		t.Fatalf("admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// ---------------------------------------------------------------------------
// Capacity is one tenant-wide number, however many instances admit

func TestE2ERedisCapacityExactAcrossInstances(t *testing.T) {
	t.Parallel()
	const capacity, attempts = 25, 520
	rc, gws := newRedisCluster(t, 2, gatewayConfig{Capacity: capacity})
	code := rc.link("market", gws...)
	clients := []*client{newClient(t), newClient(t)}
	form := url.Values{"code": {code}}.Encode()
	hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}

	results, errs := all(attempts, func(i int) (reply, error) {
		return clients[i%2].send(http.MethodPost, gws[i%2].url("/_anon/open/market"), hdr, form)
	})

	var admitted []session
	perGateway := [2]int{}
	tokens := map[string]bool{}
	full := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("redemption %d: %v", i, errs[i])
		}
		switch r.Status {
		case http.StatusSeeOther:
			s := sessionFrom(t, "market", r)
			rc.secret(s.token, s.jti)
			tokens[s.token] = true
			admitted = append(admitted, s)
			perGateway[i%2]++
		case http.StatusServiceUnavailable:
			full++
			retryAfter(t, r)
			if msg := errorMessage(r); msg != policy.ErrCapacityFull.Error() {
				t.Errorf("redemption %d: 503 %q, want the capacity refusal (Redis is up)", i, msg)
			}
		default:
			t.Errorf("redemption %d: status %d %s", i, r.Status, r.Body)
		}
	}
	if len(admitted) != capacity || full != attempts-capacity {
		t.Fatalf("%d admitted (%d by gateway 0, %d by gateway 1) and %d turned away, want exactly %d and %d",
			len(admitted), perGateway[0], perGateway[1], full, capacity, attempts-capacity)
	}
	if len(tokens) != capacity {
		t.Errorf("%d distinct session tokens, want %d", len(tokens), capacity)
	}
	t.Logf("admitted by gateway 0: %d, by gateway 1: %d", perGateway[0], perGateway[1])

	for i, g := range gws {
		rep := g.capacity(t)
		if rep.Capacity != capacity || rep.Active != capacity || rep.PerApp["market"] != capacity || rep.Peak != capacity {
			t.Errorf("gateway %d's capacity route = %+v, want capacity, active and peak %d", i, rep, capacity)
		}
		r := g.redeem(t, newClient(t), http.MethodPost, "market", url.Values{"code": {code}})
		wantStatus(t, fmt.Sprintf("redemption on gateway %d when full", i), r, http.StatusServiceUnavailable)
		retryAfter(t, r)
	}
	// Every admitted session works on both instances, wherever it began.
	for _, s := range admitted {
		for i, g := range gws {
			wantStatus(t, fmt.Sprintf("admitted session on gateway %d", i), getWith(t, clients[i], g, s, marketEntry), http.StatusOK)
		}
	}
}

// ---------------------------------------------------------------------------
// A session minted on one instance is good on every instance

func TestE2ERedisSessionWorksOnEveryInstance(t *testing.T) {
	t.Parallel()
	rc, gws := newRedisCluster(t, 2, gatewayConfig{})
	a, b := gws[0], gws[1]
	code := rc.link("market", a, b)
	c := newClient(t)
	fromA := rc.open(a, c, "market", code)
	fromB := rc.open(b, c, "market", code)
	if fromA.jti == fromB.jti {
		t.Fatal("two instances minted the same session id")
	}

	refs := map[string]string{} // session id -> X-Anonymous-Session
	for _, from := range []struct {
		name string
		s    session
	}{{"A", fromA}, {"B", fromB}} {
		s := from.s
		for i, g := range gws {
			what := fmt.Sprintf("session from gateway %s on gateway %d", from.name, i)
			r := getWith(t, c, g, s, marketEntry)
			wantStatus(t, what, r, http.StatusOK)
			if string(r.Body) != "backend GET "+marketEntry {
				t.Errorf("%s: body %q", what, r.Body)
			}
			seen := rc.backend.last(t)
			ref := seen.Header.Get("X-Anonymous-Session")
			if seen.Header.Get("X-Anonymous-App") != "market" || ref == "" {
				t.Errorf("%s: backend got app %q session %q", what, seen.Header.Get("X-Anonymous-App"), ref)
			}
			if prev, ok := refs[s.jti]; ok && prev != ref {
				t.Errorf("%s: the backend sees session reference %q, another instance sent %q for the same session", what, ref, prev)
			}
			refs[s.jti] = ref

			var info struct{ Sessions []policy.SessionInfo }
			r = getWith(t, c, g, s, "/_anon/session")
			if r.Status != http.StatusOK || json.Unmarshal(r.Body, &info) != nil || len(info.Sessions) != 1 || info.Sessions[0].App != "market" {
				t.Errorf("%s: /_anon/session = %d %s, want the market session", what, r.Status, r.Body)
			}
		}
	}
	if refs[fromA.jti] == refs[fromB.jti] {
		t.Error("two sessions got the same reference")
	}
	for i, g := range gws {
		if rep := g.capacity(t); rep.Active != 2 || rep.PerApp["market"] != 2 {
			t.Errorf("gateway %d's capacity route = %+v, want the 2 sessions of both instances", i, rep)
		}
	}
}

// ---------------------------------------------------------------------------
// A reset or turn-off on one instance is in force on the other within 1 s

func TestE2ERedisRevocationAcrossInstances(t *testing.T) {
	t.Parallel()
	rc, gws := newRedisCluster(t, 2, gatewayConfig{})
	a, b := gws[0], gws[1]
	c := newClient(t)

	// refusedOnB polls B until every session is refused with 401.
	refusedOnB := func(deadline time.Time, what string, sessions ...session) {
		t.Helper()
		took := waitUntil(t, deadline, what, func() (bool, string) {
			for _, s := range sessions {
				r := getWith(t, c, b, s, marketEntry)
				switch r.Status {
				case http.StatusUnauthorized:
				case http.StatusOK:
					return false, "a revoked session served with 200"
				default:
					t.Fatalf("%s: status %d %s", what, r.Status, r.Body)
				}
			}
			return true, ""
		})
		t.Logf("%s: after %v", what, took.Round(time.Millisecond))
	}
	// linkOnB polls B's redemption of code until it answers want. Each
	// try comes from a new client address: a refusal counts against its
	// address, and enough of them would bring 429.
	linkOnB := func(deadline time.Time, what, code string, want int) reply {
		t.Helper()
		var last reply
		waitUntil(t, deadline, what, func() (bool, string) {
			last = b.redeem(t, newClient(t), http.MethodPost, "market", url.Values{"code": {code}})
			if last.Status != http.StatusSeeOther && last.Status != http.StatusForbidden {
				t.Fatalf("%s: status %d %s", what, last.Status, last.Body)
			}
			return last.Status == want, fmt.Sprintf("status %d", last.Status)
		})
		return last
	}

	// reset-code on A.
	old := rc.link("market", a, b)
	onA, onB := rc.open(a, c, "market", old), rc.open(b, c, "market", old)
	for _, s := range []session{onA, onB} {
		// Served once, so B holds the verified token in its cache.
		wantStatus(t, "session on B before the reset", getWith(t, c, b, s, marketEntry), http.StatusOK)
	}
	a.mustCLI(t, "reset-code", "market")
	deadline := time.Now().Add(revocationBound)
	refusedOnB(deadline, "B refuses the sessions from before reset-code on A", onA, onB)
	linkOnB(deadline, "B refuses the old link after reset-code on A", old, http.StatusForbidden)
	wantStatus(t, "session on A after its own reset", getWith(t, c, a, onB, marketEntry), http.StatusUnauthorized)
	code := rc.link("market", a, b)
	if code == old {
		t.Fatal("reset-code kept the access code")
	}

	// disable on A.
	onA, onB = rc.open(a, c, "market", code), rc.open(b, c, "market", code)
	for _, s := range []session{onA, onB} {
		wantStatus(t, "session on B before disable", getWith(t, c, b, s, marketEntry), http.StatusOK)
	}
	a.mustCLI(t, "disable", "market")
	deadline = time.Now().Add(revocationBound)
	refusedOnB(deadline, "B refuses the sessions after disable on A", onA, onB)
	linkOnB(deadline, "B refuses the link after disable on A", code, http.StatusForbidden)
	if _, err := b.cli("link", "market"); err == nil {
		t.Error("B still hands out the link of a turned-off app")
	}

	// enable on A.
	a.mustCLI(t, "enable", "market")
	r := linkOnB(time.Now().Add(revocationBound), "B serves the link after enable on A", code, http.StatusSeeOther)
	s := sessionFrom(t, "market", r)
	rc.secret(s.token, s.jti)
	wantStatus(t, "new session on B after enable", getWith(t, c, b, s, marketEntry), http.StatusOK)
	wantStatus(t, "new session from B on A", getWith(t, c, a, s, marketEntry), http.StatusOK)
	if again := rc.link("market", a, b); again != code {
		t.Error("disable and enable changed the access code")
	}
	for _, prev := range []session{onA, onB} {
		wantStatus(t, "session from before disable, after enable", getWith(t, c, b, prev, marketEntry), http.StatusUnauthorized)
	}
}

// ---------------------------------------------------------------------------
// An instance restarted with the same configuration finds everything

func TestE2ERedisRestartKeepsState(t *testing.T) {
	t.Parallel()
	const capacity = 4
	rc, gws := newRedisCluster(t, 2, gatewayConfig{Capacity: capacity})
	a, b := gws[0], gws[1]
	c := newClient(t)
	market := rc.link("market", a, b)
	salesOld := rc.link("sales", a, b)
	fromA := rc.open(a, c, "market", market)
	fromB := rc.open(b, c, "market", market)
	sales := rc.open(b, c, "sales", salesOld)

	dirB := b.dir
	if err := b.stop(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, b.stderr.String())
	}
	// Changes made meanwhile on the other instance.
	a.mustCLI(t, "reset-code", "sales")
	a.mustCLI(t, "disable", "ops")
	salesNew := a.link(t, "sales")
	rc.secret(salesNew)

	b = rc.start(dirB)
	if got := b.link(t, "market"); got != market {
		t.Error("the market access code changed across a restart")
	}
	if got := b.link(t, "sales"); got != salesNew {
		t.Error("the restarted instance does not hand out the code reset while it was down")
	}
	if _, err := b.cli("link", "ops"); err == nil {
		t.Error("an app turned off while the instance was down is on after its restart")
	}
	for _, s := range []session{fromA, fromB} {
		wantStatus(t, "session from before the restart", getWith(t, c, b, s, marketEntry), http.StatusOK)
	}
	wantStatus(t, "session ended by a reset while the instance was down", getWith(t, c, b, sales, salesEntry), http.StatusUnauthorized)
	r := b.redeem(t, newClient(t), http.MethodPost, "sales", url.Values{"code": {salesOld}})
	wantStatus(t, "code from before the reset, after restart", r, http.StatusForbidden)

	if rep := b.capacity(t); rep.Active != 2 || rep.PerApp["market"] != 2 || rep.Peak != 3 {
		t.Errorf("after restart the capacity route reports %+v, want the 2 live market sessions and a peak of 3", rep)
	}
	// The slots still count: two more fill the tenant, on either instance.
	rc.open(b, c, "market", market)
	rc.open(a, c, "market", market)
	for i, g := range []*gateway{a, b} {
		r := g.redeem(t, newClient(t), http.MethodPost, "market", url.Values{"code": {market}})
		wantStatus(t, fmt.Sprintf("redemption on gateway %d past capacity after restart", i), r, http.StatusServiceUnavailable)
		retryAfter(t, r)
		if rep := g.capacity(t); rep.Active != capacity {
			t.Errorf("gateway %d's capacity route = %+v, want %d active", i, rep, capacity)
		}
	}
}

// ---------------------------------------------------------------------------
// Redis killed under load: fail closed, keep live sessions, recover alone

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

func TestE2ERedisOutageFailsClosedAndRecovers(t *testing.T) {
	t.Parallel()
	const (
		workers     = 4
		maxRequests = 20000 // all workers together
		maxLoadTime = 20 * time.Second
		// outageHeld is how long Redis stays down at least: long
		// enough to see live sessions outlast the feed's loss, well
		// inside its grace period.
		outageHeld = 1500 * time.Millisecond
	)
	rc, gws := newRedisCluster(t, 2, gatewayConfig{Capacity: 100000})
	a, b := gws[0], gws[1]
	code := rc.link("market", a, b)
	c := newClient(t)
	live := []session{rc.open(a, c, "market", code), rc.open(b, c, "market", code)}
	tally := &loadTally{}
	tally.admitted = len(live)

	form := url.Values{"code": {code}}.Encode()
	hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	loadEnds := time.Now().Add(maxLoadTime)
	for w := range workers {
		wc := newClient(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := w; sent.Add(1) <= maxRequests && time.Now().Before(loadEnds); n++ {
				select {
				case <-stop:
					return
				default:
				}
				r, err := wc.send(http.MethodPost, gws[n%2].url("/_anon/open/market"), hdr, form)
				tally.add(r, err)
			}
		}()
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopLoad)

	waitUntil(t, time.Now().Add(10*time.Second), "the load admits sessions", func() (bool, string) {
		n, _ := tally.counts()
		return n >= 20+len(live), fmt.Sprintf("%d admitted", n)
	})
	rc.redis.Kill()
	killedAt := time.Now()
	_, refusedAtKill := tally.counts()

	// New sessions fail closed, on both instances, with Retry-After.
	probe := newClient(t)
	for i, g := range gws {
		waitUntil(t, time.Now().Add(5*time.Second), fmt.Sprintf("gateway %d refuses redemptions while Redis is down", i), func() (bool, string) {
			r, err := probe.send(http.MethodPost, g.url("/_anon/open/market"), hdr, form)
			tally.add(r, err)
			if err != nil || r.Status != http.StatusServiceUnavailable {
				return false, fmt.Sprintf("status %d, error %v", r.Status, err)
			}
			retryAfter(t, r)
			if msg := errorMessage(r); msg != policy.ErrStoreUnavailable.Error() {
				t.Errorf("503 while Redis is down says %q, want %q", msg, policy.ErrStoreUnavailable)
			}
			return true, ""
		})
	}
	waitUntil(t, time.Now().Add(5*time.Second), "the load gets 503s while Redis is down", func() (bool, string) {
		_, refused := tally.counts()
		return refused > refusedAtKill, fmt.Sprintf("%d refused", refused)
	})
	for i, g := range gws {
		if got := adminStatus(t, g, "/anonymous-access/capacity"); got != http.StatusServiceUnavailable {
			t.Errorf("gateway %d's capacity route while Redis is down: %d, want 503", i, got)
		}
		_, samples := g.metrics(t)
		wantMetric(t, samples, "caddy_anonymous_access_store_up", map[string]string{"tenant": "e2e"}, 0)
	}
	if _, err := a.cli("reset-code", "market"); err == nil {
		t.Error("reset-code succeeded while Redis is down")
	}
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
			r, err := probe.send(http.MethodPost, g.url("/_anon/open/market"), hdr, form)
			tally.add(r, err)
			return err == nil && r.Status == http.StatusSeeOther, fmt.Sprintf("status %d, error %v", r.Status, err)
		})
	}
	stopLoad()

	admitted, refused := tally.counts()
	t.Logf("load: %d requests, %d admitted, %d refused with 503", min(sent.Load(), maxRequests), admitted, refused)
	tally.mu.Lock()
	for i, u := range tally.unexpects {
		if i == 10 {
			t.Errorf("... and %d more", len(tally.unexpects)-i)
			break
		}
		t.Errorf("unexpected answer to a redemption: %s", u)
	}
	tally.mu.Unlock()

	// Every admission the clients saw survived the kill (the server
	// fsyncs before it replies); admissions whose reply the kill cut
	// off may count too, at most one per request then in flight.
	for i, g := range gws {
		waitUntil(t, time.Now().Add(5*time.Second), fmt.Sprintf("gateway %d reports the store up", i), func() (bool, string) {
			_, samples := g.metrics(t)
			v, ok := metricValue(samples, "caddy_anonymous_access_store_up", map[string]string{"tenant": "e2e"})
			return ok && v == 1, fmt.Sprintf("store_up %v (present %v)", v, ok)
		})
		rep := g.capacity(t)
		if rep.Active < admitted || rep.Active > admitted+workers+len(gws) {
			t.Errorf("gateway %d's capacity route after recovery = %+v; clients saw %d admitted", i, rep.Active, admitted)
		}
		for _, s := range live {
			wantStatus(t, fmt.Sprintf("live session on gateway %d after recovery", i), getWith(t, c, g, s, marketEntry), http.StatusOK)
		}
	}

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

// ---------------------------------------------------------------------------
// An instance cut off from Redis catches up when it is back

// partition is a TCP relay to Redis that can cut one instance off, as a
// network partition would, while the others keep their connections.
type partition struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newPartition(t *testing.T, target string) *partition {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	p := &partition{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

// URL is what the cut-off instance uses as its Redis.
func (p *partition) URL() string { return "redis://" + p.ln.Addr().String() + "/0" }

func (p *partition) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil || !p.track(in, out) {
			in.Close()
			if out != nil {
				out.Close()
			}
			continue
		}
		p.wg.Add(2)
		go p.relay(in, out)
		go p.relay(out, in)
	}
}

// track registers a relayed pair unless the link is cut.
func (p *partition) track(in, out net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[in], p.conns[out] = true, true
	return true
}

func (p *partition) relay(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// setCut cuts the link (dropping every connection through it and refusing
// new ones) or restores it.
func (p *partition) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

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
