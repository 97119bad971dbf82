package policy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// held authorizes a session's request and holds it, as a stream would.
func held(t *testing.T, f *fixture, o policy.Opened) (context.Context, func()) {
	t.Helper()
	v, err := f.t.Authorize(o.Token, "GET", "/dash/market.html")
	if err != nil {
		t.Fatal(err)
	}
	return f.t.Hold(context.Background(), v)
}

// ended waits for ctx to end, failing after a bound far above the time an
// ending takes, and returns its cause.
func ended(t *testing.T, ctx context.Context) error {
	t.Helper()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(5 * time.Second):
		t.Fatal("the held request did not end")
		return nil
	}
}

func TestHoldEndsWhenTheAppIsRevoked(t *testing.T) {
	for name, revoke := range map[string]func(f *fixture) error{
		"reset": func(f *fixture) error {
			_, err := f.t.AsOperator("192.0.2.9").ResetCode(context.Background(), "market")
			return err
		},
		"off": func(f *fixture) error {
			_, err := f.t.AsOperator("192.0.2.9").SetAnonymousAccess(context.Background(), "market", false)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, 10)
			ctx, release := held(t, f, f.open1(t))
			defer release()
			if ctx.Err() != nil {
				t.Fatalf("held request ended at once: %v", context.Cause(ctx))
			}
			if err := revoke(f); err != nil {
				t.Fatal(err)
			}
			if cause := ended(t, ctx); !errors.Is(cause, policy.ErrRevoked) {
				t.Fatalf("cause %v, want ErrRevoked", cause)
			}
		})
	}
}

// TestHoldOutlivesOtherChanges checks that a change that leaves the
// session standing (another app, a reload of the same config) does not
// cut its streams.
func TestHoldOutlivesOtherChanges(t *testing.T) {
	f := newFixture(t, 10)
	ctx, release := held(t, f, f.open1(t))
	defer release()
	if _, err := f.t.AsOperator("192.0.2.9").ResetCode(context.Background(), "notes"); err != nil {
		t.Fatal(err)
	}
	if err := f.t.Register(context.Background(), f, f.registration()); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("an unrelated change ended the stream: %v", context.Cause(ctx))
	}
	release()
	if !errors.Is(context.Cause(ctx), context.Canceled) {
		t.Fatalf("release: cause %v", context.Cause(ctx))
	}
}

func TestHoldEndsWithTheSession(t *testing.T) {
	f := newFixture(t, 10)
	o := f.open1(t)
	ctx, release := held(t, f, o)
	defer release()
	f.clock.Advance(15*time.Minute - time.Second)
	select {
	case <-ctx.Done():
		t.Fatalf("ended before its time: %v", context.Cause(ctx))
	case <-time.After(3 * 250 * time.Millisecond): // a few sweeps
	}
	f.clock.Advance(time.Second)
	if cause := ended(t, ctx); !errors.Is(cause, policy.ErrExpired) {
		t.Fatalf("cause %v, want ErrExpired", cause)
	}
}

// TestHoldOfAnEndedSession checks that a session revoked between its check
// and its hold is held by an already ended context.
func TestHoldOfAnEndedSession(t *testing.T) {
	f := newFixture(t, 10)
	o := f.open1(t)
	v, err := f.t.Authorize(o.Token, "GET", "/dash/market.html")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.t.AsOperator("192.0.2.9").ResetCode(context.Background(), "market"); err != nil {
		t.Fatal(err)
	}
	ctx, release := f.t.Hold(context.Background(), v)
	defer release()
	if !errors.Is(context.Cause(ctx), policy.ErrRevoked) {
		t.Fatalf("cause %v, want ErrRevoked", context.Cause(ctx))
	}
}
