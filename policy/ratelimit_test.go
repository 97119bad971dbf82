package policy

import (
	"fmt"
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
