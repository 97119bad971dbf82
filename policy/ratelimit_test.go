package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFailureLimiter(t *testing.T) {
	l := NewFailureLimiter(3, time.Minute)
	now := time.Unix(0, 0)
	for i := 0; i < 3; i++ {
		if ok, _ := l.Check("a", now); !ok {
			t.Fatalf("blocked after %d failures", i)
		}
		l.Fail("a", now)
	}
	ok, wait := l.Check("a", now.Add(10*time.Second))
	if ok || wait != 50*time.Second {
		t.Fatalf("after 3 failures: ok=%v wait=%v, want blocked for 50s", ok, wait)
	}
	if ok, _ := l.Check("b", now); !ok {
		t.Fatal("another client blocked")
	}
	if ok, _ := l.Check("a", now.Add(time.Minute)); !ok {
		t.Fatal("still blocked after the window")
	}
}

func TestFailureLimiterIsBounded(t *testing.T) {
	l := NewFailureLimiter(3, time.Minute)
	now := time.Unix(0, 0)
	for i := 0; i < maxTrackedClients+10; i++ {
		l.Fail(fmt.Sprint(i), now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(l.clients); n > maxTrackedClients {
		t.Fatalf("tracking %d clients, bound is %d", n, maxTrackedClients)
	}
}

// floodClient is the i-th address of a flood: each in its own IPv6 /64,
// the cheapest way for one attacker to look like many clients.
func floodClient(i int) string {
	var a [16]byte
	a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
	a[4], a[5], a[6], a[7] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
	a[15] = byte(i * 7)
	return netip.AddrFrom16(a).String()
}

// floodClients returns n flood addresses starting at the from-th.
func floodClients(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = floodClient(from + i)
	}
	return out
}

// BenchmarkFailureLimiterFlood is the cost of one failure from a client
// never seen before, with clients=N distinct clients already failing in
// the same window. The clock moves 1µs per failure, so the whole run stays
// inside one window, as a flood does.
func BenchmarkFailureLimiterFlood(b *testing.B) {
	for _, prefill := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("clients=%d", prefill), func(b *testing.B) {
			l := NewFailureLimiter(10, time.Minute)
			now := time.Unix(1_700_000_000, 0)
			const chunk = 1 << 16
			for i := 0; i < prefill; i += chunk {
				for _, c := range floodClients(i, min(chunk, prefill-i)) {
					l.Fail(c, now)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			// Client strings are made a chunk at a time with the timer
			// stopped, so neither their making nor their memory is counted.
			var clients []string
			for i := 0; i < b.N; i++ {
				if i%chunk == 0 {
					b.StopTimer()
					clients = floodClients(prefill+i, chunk)
					b.StartTimer()
				}
				now = now.Add(time.Microsecond)
				l.Fail(clients[i%chunk], now)
			}
		})
	}
}

// BenchmarkFailureLimiterCheck is the limiter's cost for honest clients
// redeeming in parallel: alone (flood=0), and while one goroutine fails
// from new addresses as fast as it can on top of flood=N addresses that
// already failed in the window.
func BenchmarkFailureLimiterCheck(b *testing.B) {
	for _, prefill := range []int{0, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("flood=%d", prefill), func(b *testing.B) {
			l := NewFailureLimiter(10, time.Minute)
			now := time.Unix(1_700_000_000, 0)
			honest := []string{"192.0.2.10", "198.51.100.7", "2001:db8:ffff:1::10", "203.0.113.99"}
			for _, c := range honest {
				l.Fail(c, now)
			}
			if prefill > 0 {
				for i := 0; i < prefill; i++ {
					l.Fail(floodClient(i), now)
				}
				// The flood's next addresses are made before the timer
				// starts; it cycles through them, each call the same work
				// as a new client for a limiter that hashes, and slower
				// than the first cycle ever gets for one that scans.
				clients := floodClients(prefill, 1_000_000)
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						l.Fail(clients[i%len(clients)], now)
					}
				}()
				defer func() { close(stop); <-done }()
			}
			b.ReportAllocs()
			b.ResetTimer()
			// A mean per op hides a check stuck behind a slow failure, so
			// every 16th check is timed and the slowest reported too.
			var (
				next    atomic.Uint32
				mu      sync.Mutex
				samples []time.Duration
			)
			b.RunParallel(func(pb *testing.PB) {
				c := honest[int(next.Add(1))%len(honest)]
				var mine []time.Duration
				for i := 0; pb.Next(); i++ {
					var start time.Time
					if i%16 == 0 {
						start = time.Now()
					}
					if ok, _ := l.Check(c, now); !ok {
						b.Error("honest client refused")
						return
					}
					if i%16 == 0 {
						mine = append(mine, time.Since(start))
					}
				}
				mu.Lock()
				samples = append(samples, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			if len(samples) > 0 {
				slices.Sort(samples)
				b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
				b.ReportMetric(float64(samples[len(samples)-1].Nanoseconds()), "max-ns")
			}
		})
	}
}
