package policy

import (
	"sync"
	"time"
)

// FailureLimiter turns a client away after too many failed link
// redemptions in a window, so access codes cannot be guessed online. It
// counts failures only: a client that opens good links is never slowed.
type FailureLimiter struct {
	// Max is the number of failures allowed in Window.
	Max    int
	Window time.Duration

	mu      sync.Mutex
	clients map[string]*failureWindow
}

type failureWindow struct {
	start time.Time
	count int
}

// maxTrackedClients bounds the limiter's memory under a spray of addresses;
// past it, windows that are over are dropped first, then the oldest half.
const maxTrackedClients = 100_000

// NewFailureLimiter allows max failures per window and client.
func NewFailureLimiter(max int, window time.Duration) *FailureLimiter {
	return &FailureLimiter{Max: max, Window: window, clients: make(map[string]*failureWindow)}
}

// Check reports whether the client may try now, and if not, how long until
// it may.
func (l *FailureLimiter) Check(client string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.clients[client]
	if !ok {
		return true, 0
	}
	if now.Sub(w.start) >= l.Window {
		delete(l.clients, client)
		return true, 0
	}
	if w.count >= l.Max {
		return false, w.start.Add(l.Window).Sub(now)
	}
	return true, 0
}

// Fail records a failed attempt by the client.
func (l *FailureLimiter) Fail(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.clients[client]
	if !ok || now.Sub(w.start) >= l.Window {
		if len(l.clients) >= maxTrackedClients {
			l.pruneLocked(now)
		}
		l.clients[client] = &failureWindow{start: now, count: 1}
		return
	}
	w.count++
}

func (l *FailureLimiter) pruneLocked(now time.Time) {
	for k, w := range l.clients {
		if now.Sub(w.start) >= l.Window {
			delete(l.clients, k)
		}
	}
	if len(l.clients) < maxTrackedClients {
		return
	}
	cutoff := now.Add(-l.Window / 2)
	for k, w := range l.clients {
		if w.start.Before(cutoff) {
			delete(l.clients, k)
		}
	}
}
