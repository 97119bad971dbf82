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

// BenchmarkAdmitSession is one admission on a real redis-server
// (append-only, fsync every second), from parallel goroutines as a busy
// gateway would: within capacity alone, and within capacity and a client
// limit, each admission from its own client (a client's sorted set made,
// counted and given a TTL).
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
	for _, limit := range []int{0, 10} {
		name := "capacity"
		if limit > 0 {
			name = "client-limit"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					a := policy.Admission{Capacity: 1 << 30, ClientLimit: limit}
					a.Session = policy.SessionRecord{App: "market", ExpiresAt: now.Add(15 * time.Minute).Unix()}
					_, _ = rand.Read(a.Session.Key[:])
					_, _ = rand.Read(a.Client[:])
					v, err := st.AdmitSession(context.Background(), a, now)
					if err != nil || v.Outcome != policy.Admitted {
						b.Fatal(v, err)
					}
				}
			})
		})
	}
}
