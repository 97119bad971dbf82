//go:build unix

package e2e

// Cluster mode end to end: several Caddy processes (the binary TestMain
// built) keeping one tenant's state in one real redis-server, each on its
// own ports and directories, as a load balancer would see them. The
// redis-server comes from redistest, which skips these tests when there is
// none (and fails them when CI is set).
//
// This file starts such clusters and cuts an instance off from Redis.

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

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
