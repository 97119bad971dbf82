package redistest_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/anonaccess/caddy-anonymous-access/policy/redisstore/redistest"
)

// What the server acknowledged survives a SIGKILL and a restart on the
// same port and directory.
func TestKillAndRestartKeepData(t *testing.T) {
	s := redistest.Start(t)
	opts, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	// No retries: the PING to a killed server should fail at once.
	opts.MaxRetries, opts.DialerRetries = -1, 1
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	s.Kill()
	if s.Running() {
		t.Fatal("running after Kill")
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("a killed server answers PING")
	}
	port := s.Port()
	s.Restart()
	if !s.Running() || s.Port() != port {
		t.Fatalf("after Restart: running %v on port %d, want port %d", s.Running(), s.Port(), port)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("after Restart GET k = %q, %v; want v", got, err)
	}

	s.Stop()
	if s.Running() {
		t.Fatal("running after Stop")
	}
	s.Kill() // nothing to do, and no hang
}

// Two servers of one test get two ports.
func TestStartTwo(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	if a.Addr() == b.Addr() || a.Dir() == b.Dir() {
		t.Fatalf("two servers share %s / %s", a.Addr(), a.Dir())
	}
}
