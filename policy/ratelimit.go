package policy

import (
	"hash/maphash"
	"sync/atomic"
	"time"
)

// FailureLimiter turns a client away after too many failed link
// redemptions in a window, so access codes cannot be guessed online. It
// counts failures only: a client that opens good links is never slowed.
// Clients are counted by clientKey, so an IPv6 /64 is one client.
//
// Its memory is fixed (failureTableBytes, taken at the first failure) and
// every call is O(1) and lock-free, however many clients fail: a flood
// from a million addresses costs an honest client's check nothing.
type FailureLimiter struct {
	// Max is the number of failures allowed in Window, from 1 to 65535.
	Max int
	// Window is the length of the counting windows; zero or less turns
	// the limiter off.
	Window time.Duration

	seed  maphash.Seed
	table atomic.Pointer[failureTable]
}

// Failures are counted in a count-min sketch: failureRows rows of
// failureColumns counters, each client adding one to a counter in every
// row, picked by a hash keyed with a per-limiter random seed, and judged by
// the smallest of its counters. Counters are never keyed by client, so
// clients that share one only ever make each other stricter: every counter
// of a client holds at least that client's own failures, and a count goes
// back to zero only when its window ends, never through another client.
//
// Windows are aligned on multiples of Window (from the Unix epoch of the
// injected clock) and shared by every counter. Were each counter's window
// to start at its first failure, a client whose counters started at
// different times could be let through by whichever ended first, up to
// failureRows times Max per Window. A client gets at most Max failures per
// aligned window, and is told to retry when that window ends.
//
// The chance that an honest client is refused for failures it did not
// make: a flood of F failures in a window puts about λ = F/failureColumns
// foreign failures on each of the client's counters (Poisson; the keyed
// hash keeps an attacker from aiming them), and it is refused when every
// row reaches Max less its own h failures: P ≈ P(Poisson(λ) ≥ Max−h)^2.
// With Max 10:
//
//	1 M addresses failing once (F = 1 M, λ ≈ 0.95): h=0 5e-15, h=3 4e-9
//	2 M failures (λ ≈ 1.9):                         h=0 1e-9,  h=3 1e-5
//	5 M failures (λ ≈ 4.8):                         h=0 6e-4,  h=3 4e-2
//
// Past that the table fills up. Addresses that each fail until refused
// (measured: 1 M addresses record 8 M failures and get 37 % of honest
// clients refused until the window ends; 500 k addresses 14 %, 200 k 3 %).
// Fixed memory must give way somewhere; such an attacker tries 8 M codes a
// window whatever the limiter does, and only the access code's length
// stands against that.
//
// Each row takes its own 32 bits of a 64-bit hash: two rows at most.
const (
	failureRows       = 2
	failureColumnBits = 20
	failureColumns    = 1 << failureColumnBits
	failureTableBytes = failureRows * failureColumns * 4 // 8 MiB
)

// failureTable holds the counters. Each packs the low 16 bits of its
// window's number above a 16-bit count of failures in that window. A
// counter left alone for 65535 or 65536 windows so shows its old count
// again for a window: stricter, never looser.
type failureTable [failureRows][failureColumns]atomic.Uint32

// NewFailureLimiter allows max failures per window and client.
func NewFailureLimiter(max int, window time.Duration) *FailureLimiter {
	return &FailureLimiter{Max: max, Window: window, seed: maphash.MakeSeed()}
}

// Check reports whether the client may try now, and if not, how long until
// it may.
func (l *FailureLimiter) Check(client string, now time.Time) (bool, time.Duration) {
	t := l.table.Load()
	if t == nil || l.Window <= 0 {
		return true, 0
	}
	window := l.window(now)
	h := l.hash(client)
	least := uint32(0xffff)
	for r := range t {
		least = min(least, live(t[r][column(h, r)].Load(), window))
	}
	if least < l.limit() {
		return true, 0
	}
	end := time.Unix(0, (window+1)*int64(l.Window))
	return false, end.Sub(now)
}

// Fail records a failed attempt by the client.
func (l *FailureLimiter) Fail(client string, now time.Time) {
	if l.Window <= 0 {
		return
	}
	t := l.counters()
	window := l.window(now)
	h := l.hash(client)
	for r := range t {
		c := &t[r][column(h, r)]
		for {
			old := c.Load()
			count := live(old, window)
			if count == 0xffff {
				break
			}
			n := uint32(uint16(window))<<16 | 1
			if count > 0 {
				n = old + 1
			}
			if c.CompareAndSwap(old, n) {
				break
			}
		}
	}
}

// live is counter v's count as seen in window: its count if it belongs to
// window or to the next one (a failure stamped a moment later, by a caller
// whose clock read came later), else zero. Counting the next window's
// failures can only make the limiter stricter; and because Fail adds to
// exactly the counters Check reads as live, no failure is ever lost to
// the 16-bit window number wrapping.
func live(v uint32, window int64) uint32 {
	if d := uint16(v>>16) - uint16(window); d <= 1 {
		return v & 0xffff
	}
	return 0
}

// counters returns the table, making it on the first failure so that a
// limiter that never sees one costs nothing.
func (l *FailureLimiter) counters() *failureTable {
	if t := l.table.Load(); t != nil {
		return t
	}
	l.table.CompareAndSwap(nil, new(failureTable))
	return l.table.Load()
}

// window numbers the aligned window now falls in.
func (l *FailureLimiter) window(now time.Time) int64 {
	n, w := now.UnixNano(), int64(l.Window)
	q := n / w
	if n%w < 0 {
		q--
	}
	return q
}

func (l *FailureLimiter) limit() uint32 {
	return uint32(min(max(l.Max, 1), 0xffff))
}

// hash keys the client by clientKey's grouping without building its
// string, so a check allocates nothing.
func (l *FailureLimiter) hash(client string) uint64 {
	a, ok := clientAddr(client)
	if !ok {
		return maphash.String(l.seed, client)
	}
	b := a.As16()
	return maphash.Bytes(l.seed, b[:])
}

// column picks row r's counter from 32 bits of the hash of its own.
func column(h uint64, r int) uint32 {
	return uint32(h>>(32*r)) & (failureColumns - 1)
}
