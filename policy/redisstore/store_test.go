package redisstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
	"github.com/anonaccess/caddy-anonymous-access/policy/redisstore/redistest"
	"github.com/anonaccess/caddy-anonymous-access/policy/storetest"
	"github.com/redis/go-redis/v9"
)

// TestStoreSuite runs the store suite on a standalone server per subtest;
// the durability test kills it (kill -9) and starts it again.
func TestStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backing {
		r := redistest.Start(t)
		c := newClient(t, Options{URL: r.URL()})
		return storetest.Backing{
			Open: func(tenant string, _ func() time.Time) policy.Store {
				return newStore(t, c, tenant)
			},
			Restart: r.Restart,
		}
	})
}

// TestStoreSuiteCluster runs the suite through a Cluster client on a
// one-node Cluster, where a script touching keys of two slots would fail.
// Subtests share the node (it takes two seconds to start), each under its
// own key prefix.
func TestStoreSuiteCluster(t *testing.T) {
	r := redistest.StartCluster(t)
	c := newClient(t, Options{Addrs: []string{r.Addr()}, Cluster: true})
	storetest.Run(t, sharedBacking(c, r.Restart))
}

// TestStoreSuiteSentinel runs the suite through a Sentinel-aware client,
// which asks a real Sentinel where the master is.
func TestStoreSuiteSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master, "main")
	c := newClient(t, Options{Addrs: []string{sentinel.Addr()}, MasterName: "main"})
	storetest.Run(t, sharedBacking(c, master.Restart))
}

func TestNewChecksNames(t *testing.T) {
	c := newClient(t, Options{URL: "redis://127.0.0.1:1/0"})
	for _, tc := range []struct{ prefix, tenant string }{
		{"bad{prefix", "acme"},
		{"bad}prefix", "acme"},
		{strings.Repeat("p", 101), "acme"},
		{"", "Acme"},
		{"", "a}b"},
		{"", ""},
	} {
		if _, err := New(c, tc.prefix, tc.tenant); err == nil {
			t.Errorf("New(%q, %q) accepted", tc.prefix, tc.tenant)
		}
	}
	s, err := New(c, "", "acme")
	if err != nil {
		t.Fatal(err)
	}
	if s.keys.apps != "{anonaccess:acme}:apps" || s.keys.appSessions("market") != "{anonaccess:acme}:sessions:app:market" {
		t.Fatalf("keys %+v", s.keys)
	}
}

// TestKeysShareTheHashTag checks every key a tenant's store writes: all
// start with the tenant's hash tag, so they share one Cluster slot, and
// none belongs to another tenant.
func TestKeysShareTheHashTag(t *testing.T) {
	r := redistest.Start(t)
	c := newClient(t, Options{URL: r.URL()})
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	for _, tenant := range []string{"acme", "globex"} {
		st, err := New(c, "gw", tenant)
		if err != nil {
			t.Fatal(err)
		}
		must(t, st.PutSpace(ctx, policy.Space{ID: "stats", Type: policy.SpaceManaged}))
		_, err = st.EnsureApp(ctx, policy.AppRecord{App: policy.App{ID: "market"}, Code: "c"})
		must(t, err)
		_, err = st.SigningKey(ctx, []byte("k"))
		must(t, err)
		// A renewal counted for a client writes the client's and the
		// renewed session's keys too.
		v, err := st.AdmitSession(ctx, policy.Admission{
			Session: sessionRec(1, "market", now.Add(time.Minute)), Capacity: 5,
			Client: policy.ClientID{7}, ClientLimit: 3,
			Renews: &policy.Renewal{Key: sessionRec(0, "market", now).Key, Until: now.Add(time.Hour).Unix()},
		}, now)
		must(t, err)
		if v.Outcome != policy.Admitted {
			t.Fatalf("outcome %d", v.Outcome)
		}
	}
	keys, err := c.Keys(ctx, "*").Result()
	must(t, err)
	if len(keys) != 2*9 {
		t.Errorf("%d keys, want 9 per tenant: %q", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "{gw:acme}:") && !strings.HasPrefix(k, "{gw:globex}:") {
			t.Errorf("key %q lacks the tenant's hash tag", k)
		}
	}
}

// TestClientKeysHoldNoAddress checks what a client's sorted set is named
// and holds: the hex of its ClientID and the tenant set's members, with a
// TTL, so Redis never sees an address and forgets a client that left.
func TestClientKeysHoldNoAddress(t *testing.T) {
	r := redistest.Start(t)
	c := newClient(t, Options{URL: r.URL()})
	ctx := context.Background()
	st := newStore(t, c, "acme")
	now := time.Unix(1_800_000_000, 0)
	id := policy.ClientID{0xAB, 0xCD}
	rec := sessionRec(1, "market", now.Add(15*time.Minute))
	v, err := st.AdmitSession(ctx, policy.Admission{Session: rec, Capacity: 5, Client: id, ClientLimit: 3}, now)
	if err != nil || v.Outcome != policy.Admitted {
		t.Fatalf("admit: %+v %v", v, err)
	}
	key := "{anonaccess:acme}:client:abcd0000000000000000000000000000"
	members, err := c.ZRangeWithScores(ctx, key, 0, -1).Result()
	must(t, err)
	if len(members) != 1 || members[0].Member != string(rec.Key[:])+"market" || int64(members[0].Score) != rec.ExpiresAt {
		t.Fatalf("client set %q holds %+v", key, members)
	}
	if ttl := c.TTL(ctx, key).Val(); ttl < 15*time.Minute || ttl > 17*time.Minute {
		t.Fatalf("client set TTL %v, want its last session's life and a minute", ttl)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func sessionRec(n byte, app string, exp time.Time) policy.SessionRecord {
	var k policy.SessionKey
	k[0], k[15] = n, 0x5A
	return policy.SessionRecord{Key: k, App: app, ExpiresAt: exp.Unix()}
}

// sharedBacking gives each subtest of the suite its own key prefix on one
// client, for servers that are slow to start and so shared.
func sharedBacking(c redis.UniversalClient, restart func()) func(*testing.T) storetest.Backing {
	n := 0
	return func(t *testing.T) storetest.Backing {
		n++
		prefix := fmt.Sprintf("suite%d", n)
		return storetest.Backing{
			Open: func(tenant string, _ func() time.Time) policy.Store {
				st, err := New(c, prefix, tenant)
				must(t, err)
				return st
			},
			Restart: restart,
		}
	}
}

// newClient connects with the package's own options builder; the test's
// cleanup closes it.
func newClient(t *testing.T, o Options) redis.UniversalClient {
	t.Helper()
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newStore returns tenant's store on client, failing the test on error.
func newStore(t *testing.T, c redis.UniversalClient, tenant string) *Store {
	t.Helper()
	s, err := New(c, "", tenant)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
