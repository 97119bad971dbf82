package redisstore_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
	"github.com/anonaccess/caddy-anonymous-access/policy/redisstore"
	"github.com/anonaccess/caddy-anonymous-access/policy/redisstore/redistest"
)

// BenchmarkAdmitSession is one capacity admission on a real redis-server
// (append-only, fsync always, as redistest runs it), from parallel
// goroutines as a busy gateway would.
func BenchmarkAdmitSession(b *testing.B) {
	srv := redistest.Start(b, "--appendfsync", "everysec")
	client, err := redisstore.NewClient(redisstore.Options{URL: srv.URL()})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	st, err := redisstore.New(client, "", "bench")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var k policy.SessionKey
			_, _ = rand.Read(k[:])
			ok, err := st.AdmitSession(context.Background(), policy.SessionRecord{Key: k, App: "market", ExpiresAt: now.Add(15 * time.Minute).Unix()}, 1<<30, now)
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
}
