package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// t0 starts a window of a minute: windows are aligned on the clock.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// limiterStep is a failure recorded, or a check expected to give ok and wait.
type limiterStep struct {
	at     time.Duration
	client string
	fail   bool
	ok     bool
	wait   time.Duration
}

func fail(at time.Duration, client string) limiterStep {
	return limiterStep{at: at, client: client, fail: true}
}

func allowed(at time.Duration, client string) limiterStep {
	return limiterStep{at: at, client: client, ok: true}
}

func refused(at time.Duration, client string, wait time.Duration) limiterStep {
	return limiterStep{at: at, client: client, wait: wait}
}

func TestFailureLimiter(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		name  string
		steps []limiterStep
	}{
		{"max failures then refusal until the window ends", []limiterStep{
			allowed(0, "a"), fail(0, "a"), allowed(s, "a"), fail(s, "a"), allowed(2*s, "a"), fail(2*s, "a"),
			refused(10*s, "a", 50*s), refused(59*s+999*time.Millisecond, "a", time.Millisecond), allowed(60*s, "a"),
		}},
		{"the window is the clock's, not the first failure's", []limiterStep{
			fail(45*s, "a"), fail(45*s, "a"), fail(45*s, "a"), refused(46*s, "a", 14*s), allowed(60*s, "a"),
		}},
		{"failures of the last window do not count in the next", []limiterStep{
			fail(50*s, "a"), fail(50*s, "a"), fail(61*s, "a"), fail(61*s, "a"), allowed(62*s, "a"),
			fail(62*s, "a"), refused(62*s, "a", 58*s),
		}},
		{"a failure stamped late does not wipe the next window's count", []limiterStep{
			fail(60*s, "a"), fail(60*s, "a"), fail(60*s, "a"), fail(59*s, "a"), refused(61*s, "a", 59*s),
		}},
		{"checks are not failures", []limiterStep{
			allowed(0, "a"), allowed(0, "a"), allowed(0, "a"), allowed(0, "a"), fail(0, "a"), fail(0, "a"), allowed(0, "a"),
		}},
		{"clients are counted apart", []limiterStep{
			fail(0, "192.0.2.1"), fail(0, "192.0.2.1"), fail(0, "192.0.2.1"), refused(0, "192.0.2.1", 60*s),
			allowed(0, "192.0.2.2"), fail(0, "192.0.2.2"), fail(0, "192.0.2.2"), allowed(0, "192.0.2.2"),
			allowed(0, "2001:db8:1:2::1"),
		}},
		{"an IPv6 /64 is one client", []limiterStep{
			fail(0, "2001:db8:1:2::1"), fail(0, "2001:db8:1:2::2"), fail(0, "2001:db8:1:2:ffff::3"),
			refused(0, "2001:db8:1:2:abcd::9", 60*s), allowed(0, "2001:db8:1:3::1"),
		}},
		{"an IPv4-mapped address is the IPv4 client", []limiterStep{
			fail(0, "::ffff:192.0.2.1"), fail(0, "192.0.2.1"), fail(0, "::ffff:192.0.2.1"), refused(0, "192.0.2.1", 60*s),
		}},
		{"windows before the Unix epoch round down", []limiterStep{
			fail(-t0.Sub(time.Unix(0, 0))-90*s, "a"), fail(-t0.Sub(time.Unix(0, 0))-90*s, "a"), fail(-t0.Sub(time.Unix(0, 0))-90*s, "a"),
			refused(-t0.Sub(time.Unix(0, 0))-70*s, "a", 10*s), allowed(-t0.Sub(time.Unix(0, 0))-60*s, "a"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewFailureLimiter(3, time.Minute)
			for i, st := range tc.steps {
				now := t0.Add(st.at)
				if st.fail {
					l.Fail(st.client, now)
					continue
				}
				ok, wait := l.Check(st.client, now)
				if ok != st.ok || wait != st.wait {
					t.Fatalf("step %d: Check(%s) at %v = %v, %v; want %v, %v", i, st.client, st.at, ok, wait, st.ok, st.wait)
				}
			}
		})
	}
}

func TestFailureLimiterOff(t *testing.T) {
	l := NewFailureLimiter(1, 0)
	l.Fail("a", t0)
	l.Fail("a", t0)
	if ok, _ := l.Check("a", t0); !ok {
		t.Fatal("a limiter without a window refused a client")
	}
}

// TestFailureLimiterWindowNumberWraps: counters keep 16 bits of their
// window's number, so a counter 65536 windows old carries the same bits.
// Whatever it then reads, a client still gets no more than Max failures
// in any window.
func TestFailureLimiterWindowNumberWraps(t *testing.T) {
	l := NewFailureLimiter(3, time.Minute)
	for i := 0; i < 3; i++ {
		l.Fail("a", t0)
	}
	for _, w := range []int{65534, 65535, 65536, 65537, 131072} {
		now := t0.Add(time.Duration(w) * time.Minute)
		for i := 0; i < 3; i++ {
			l.Fail("a", now)
		}
		if ok, _ := l.Check("a", now); ok {
			t.Fatalf("window %d: allowed after 3 failures in it", w)
		}
	}
}

// TestFailureLimiterConcurrentFailures: failures racing on the same
// counters are all counted, and only once.
func TestFailureLimiterConcurrentFailures(t *testing.T) {
	const goroutines, each = 4, 15_000
	exact := NewFailureLimiter(goroutines*each, time.Minute)
	roomy := NewFailureLimiter(goroutines*each+1, time.Minute)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < each; i++ {
				exact.Fail("192.0.2.1", t0)
				roomy.Fail("192.0.2.1", t0)
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok, _ := exact.Check("192.0.2.1", t0); ok {
		t.Errorf("allowed after %d concurrent failures, Max %d", goroutines*each, exact.Max)
	}
	if ok, _ := roomy.Check("192.0.2.1", t0); !ok {
		t.Errorf("refused after %d concurrent failures, Max %d", goroutines*each, roomy.Max)
	}
}

// floodSize is how many addresses the tests flood from: a million, or
// fewer under the race detector, which checks the same code for races but
// slowly.
func floodSize() int {
	if raceEnabled {
		return 50_000
	}
	return 1_000_000
}

// TestFailureLimiterFixedMemory: the counters are one fixed-size table,
// and failures from a million new clients allocate nothing.
func TestFailureLimiterFixedMemory(t *testing.T) {
	if n := unsafe.Sizeof(failureTable{}); n != failureTableBytes || failureTableBytes != 8<<20 {
		t.Fatalf("table is %d bytes, failureTableBytes %d, want both 8 MiB", n, failureTableBytes)
	}
	l := NewFailureLimiter(10, time.Minute)
	l.Fail("192.0.2.1", t0)
	table := l.table.Load()
	clients := floodClients(0, floodSize())
	if n := testing.AllocsPerRun(1, func() {
		for _, c := range clients {
			l.Fail(c, t0)
		}
	}); n != 0 {
		t.Fatalf("%d new clients' failures made %v allocations, want 0", len(clients), n)
	}
	if n := testing.AllocsPerRun(1000, func() { l.Check("198.51.100.7", t0) }); n != 0 {
		t.Fatalf("a check made %v allocations, want 0", n)
	}
	if l.table.Load() != table {
		t.Fatal("the table was replaced")
	}
}

// TestFailureLimiterFloodSparesHonestClients: after a million addresses
// failed once each in the window, honest clients are let in. Each is
// refused with a chance of about 5e-15 if it never failed, 5e-11 if it
// failed twice (see failureColumns), so the 20 000 here are all let in but
// for about one run in two million (the hash's seed differs per run).
func TestFailureLimiterFloodSparesHonestClients(t *testing.T) {
	l := NewFailureLimiter(10, time.Minute)
	now := t0.Add(30 * time.Second)
	for i := 0; i < floodSize(); i++ {
		l.Fail(floodClient(i), now)
	}
	refusedCount := 0
	for i := 0; i < 20_000; i++ {
		c := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
		if i%2 == 1 {
			for j := 0; j < 2; j++ {
				l.Fail(c, now)
			}
		}
		if ok, _ := l.Check(c, now); !ok {
			refusedCount++
		}
	}
	if refusedCount > 0 {
		t.Fatalf("%d of 20 000 honest clients refused after a flood of %d addresses", refusedCount, floodSize())
	}
	for i := 0; i < 10; i++ {
		l.Fail(floodClient(7), now)
	}
	if ok, _ := l.Check(floodClient(7), now); ok {
		t.Fatal("a flooding client was not refused after its own 10 failures")
	}
}

// TestFailureLimiterIsKeyed: two limiters hash a client apart, so where a
// client's counters lie cannot be learnt from another process.
func TestFailureLimiterIsKeyed(t *testing.T) {
	a, b := NewFailureLimiter(10, time.Minute), NewFailureLimiter(10, time.Minute)
	if a.hash("192.0.2.1") == b.hash("192.0.2.1") {
		t.Fatal("two limiters hash a client alike")
	}
	if a.hash("2001:db8:1:2::1") != a.hash("2001:db8:1:2::ffff") {
		t.Fatal("one /64 hashed as two clients")
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
