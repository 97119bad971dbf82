package policy

import (
	"context"
	"sync"
	"time"
)

// UsagePoint is the tenant's live anonymous sessions in one minute: the
// most seen during it.
type UsagePoint struct {
	Time   time.Time `json:"time"`
	Active int       `json:"active"`
}

// historyMinutes is how far back the usage history reaches.
const historyMinutes = 60

// historySample is how often a tenant samples its usage for the history,
// on top of every capacity report.
const historySample = 20 * time.Second

// usageHistory keeps one point per minute for the last hour, in memory:
// it is for a glance at the capacity page, while Prometheus keeps the
// record.
type usageHistory struct {
	mu     sync.Mutex
	points [historyMinutes]UsagePoint
}

// observe records active at now, keeping the minute's maximum.
func (h *usageHistory) observe(now time.Time, active int) {
	minute := now.UTC().Truncate(time.Minute)
	slot := &h.points[minute.Unix()/60%historyMinutes]
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slot.Time.Equal(minute) {
		*slot = UsagePoint{Time: minute}
	}
	slot.Active = max(slot.Active, active)
}

// lastHour returns the recorded minutes of the hour before now, oldest
// first; minutes nobody observed are left out.
func (h *usageHistory) lastHour(now time.Time) []UsagePoint {
	since := now.UTC().Truncate(time.Minute).Add(-(historyMinutes - 1) * time.Minute)
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]UsagePoint, 0, historyMinutes)
	for i := range historyMinutes {
		m := since.Add(time.Duration(i) * time.Minute)
		if p := h.points[m.Unix()/60%historyMinutes]; p.Time.Equal(m) {
			out = append(out, p)
		}
	}
	return out
}

// sampleUsage observes the tenant's usage every historySample until ctx
// ends, so the history has points while nobody looks at the capacity.
func (t *Tenant) sampleUsage(ctx context.Context) {
	defer close(t.sampled)
	every(ctx, historySample, func() {
		now := t.now()
		if u, err := t.store.Usage(ctx, now); err == nil {
			t.history.observe(now, u.Active)
		}
	})
}
