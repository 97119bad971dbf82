package policytest

import (
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	start := time.Unix(100, 0)
	c := NewClock(start)
	c.Advance(15 * time.Minute)
	if got := c.Now(); !got.Equal(start.Add(15 * time.Minute)) {
		t.Fatalf("Now() = %v", got)
	}
}
