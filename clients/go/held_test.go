package leasehold_test

import (
	"context"
	"errors"
	"testing"
	"time"

	leasehold "github.com/leasehold/leasehold/clients/go"
)

func TestAHeldLeaseRenewsItselfPastItsTTL(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	name := lockName(t, "short")
	lock := newClient(t, leasehold.Options{}).Lock(name)
	started := time.Now()
	lease := acquire(t, lock, leasehold.LockOptions{TTL: 2 * time.Second})
	defer release(t, lease)
	firstExpiry := lease.ExpiresAt()

	waitFor(t, 15*time.Second, "4 renewals", func() bool { return events(t, name, "renewed") >= 4 })

	// At a third of the TTL, the 4th renewal is sent 2.67 s after the grant.
	if took := time.Since(started); took <= 2*time.Second || took > 3900*time.Millisecond {
		t.Fatalf("4 renewals in %v: not at a third of the TTL", took)
	}
	if lease.Err() != nil || lease.Context().Err() != nil {
		t.Fatalf("a lease renewed on time reads as ended: %v", lease.Err())
	}
	status, err := lock.Status(ctx)
	if err != nil || status == nil || status.FencingToken != lease.FencingToken() {
		t.Fatalf("status %+v, %v", status, err)
	}
	if !lease.ExpiresAt().After(firstExpiry) || !lease.ValidUntil().After(time.Now()) {
		t.Fatalf("expiry %v (first %v), valid until %v", lease.ExpiresAt(), firstExpiry, lease.ValidUntil())
	}
}

func TestTheContextIsCancelledWhenTheLeaseIsTakenOver(t *testing.T) {
	t.Parallel()
	name := lockName(t, "taken")
	lock := newClient(t, leasehold.Options{}).Lock(name)
	lease := acquire(t, lock, leasehold.LockOptions{TTL: 3 * time.Second})
	work, stopWork := context.WithCancel(lease.Context()) // work derived from the lease's context
	defer stopWork()

	sql(t, "UPDATE locks SET expires_at = now() - interval '1 second' WHERE name = '"+name+"'")
	usurper := acquire(t, lock, leasehold.LockOptions{TTL: 30 * time.Second})
	defer release(t, usurper)

	awaitDone(t, lease.Context(), 5*time.Second, "the lease's context ends within a renewal period")
	awaitDone(t, work, time.Second, "a context derived from it ends too")
	cause := asError(t, leasehold.Cause(lease.Context()))
	if !errors.Is(cause, leasehold.ErrLeaseLost) || cause.Reason != leasehold.ReasonSuperseded || cause.Status != 410 {
		t.Fatalf("cause %+v, want 410 lease_lost (superseded)", cause)
	}
	if derived := leasehold.Cause(work); derived != cause {
		t.Fatalf("the derived context's cause %v, want %v", derived, cause)
	}
	if usurper.FencingToken() <= lease.FencingToken() {
		t.Fatalf("usurper's fencing token %d, lost lease's %d", usurper.FencingToken(), lease.FencingToken())
	}
	err := lease.Release(testContext(t))
	if lostErr := asError(t, err); lostErr.Reason != leasehold.ReasonSuperseded {
		t.Fatalf("releasing the lost lease: want lease_lost (superseded), got %+v", lostErr)
	}
}

func TestTheContextIsCancelledWhenTheLeaseIsGone(t *testing.T) {
	t.Parallel()
	name := lockName(t, "gone")
	lease := acquire(t, newClient(t, leasehold.Options{}).Lock(name), leasehold.LockOptions{TTL: 3 * time.Second})

	sql(t, "DELETE FROM locks WHERE name = '"+name+"'")

	awaitDone(t, lease.Context(), 5*time.Second, "the lease's context ends within a renewal period")
	if err := lease.Release(testContext(t)); !errors.Is(err, leasehold.ErrLeaseLost) {
		t.Fatalf("releasing the lost lease: want ErrLeaseLost, got %v", err)
	}
}

func TestALeaseIsJudgedLostWhenRenewalsFailForItsTTL(t *testing.T) {
	t.Parallel()
	proxy := newFaultyProxy(t)
	client := newClient(t, leasehold.Options{URL: proxy.url, RequestTimeout: 500 * time.Millisecond})
	started := time.Now()
	lease := acquire(t, client.Lock(lockName(t, "cut-off")), leasehold.LockOptions{TTL: 2 * time.Second})

	proxy.goDark(true) // the server is now unreachable for this client

	awaitDone(t, lease.Context(), 5*time.Second, "the context ends once the TTL has passed")
	judged, validUntil := time.Now(), lease.ValidUntil()
	cause := asError(t, leasehold.Cause(lease.Context()))
	if cause.Reason != leasehold.ReasonRenewalsFailed || !errors.Is(cause, leasehold.ErrLeaseLost) {
		t.Fatalf("cause %+v, want lease_lost (renewals_failed)", cause)
	}
	if judged.Before(validUntil) || judged.Sub(started) < 2*time.Second {
		t.Fatalf("judged lost %v after the acquire began, before its TTL ran out (valid until %v)", judged.Sub(started), validUntil)
	}
	if judged.Sub(validUntil) > time.Second {
		t.Fatalf("judged lost %v after it may have lapsed", judged.Sub(validUntil))
	}
	if len(proxy.requests("POST")) < 2 {
		t.Fatalf("renewals were not even tried: %d POSTs", len(proxy.requests("POST")))
	}
}

func TestCauseOfAnotherContextIsItsErr(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if cause := leasehold.Cause(ctx); cause != context.Canceled {
		t.Fatalf("Cause of an unrelated context: %v", cause)
	}
	if cause := leasehold.Cause(context.Background()); cause != nil {
		t.Fatalf("Cause of a live context: %v", cause)
	}
}

func TestALeaseGrantedAfterWaitingLongerThanItsTTLIsHeldNotLost(t *testing.T) {
	ctx := testContext(t)
	lock := newClient(t, leasehold.Options{}).Lock(lockName(t, "longer-than-ttl"))
	holder := acquire(t, lock, leasehold.LockOptions{TTL: 30 * time.Second})
	// The waiter's whole TTL passes while it waits: that is what is tested.
	released := releaseOnceQueued(ctx, lock, holder, 2500*time.Millisecond)

	lease, err := lock.Acquire(ctx, leasehold.LockOptions{TTL: 2 * time.Second, Wait: 10 * time.Second})

	if err != nil {
		t.Fatal(err)
	}
	defer release(t, lease)
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if lease.Err() != nil || time.Until(lease.ValidUntil()) < time.Second {
		t.Fatalf("granted lost (%v) or nearly so (valid %v more)", lease.Err(), time.Until(lease.ValidUntil()))
	}
	select {
	case <-lease.Context().Done():
		t.Fatalf("lost within another TTL: %v", leasehold.Cause(lease.Context()))
	case <-time.After(2500 * time.Millisecond):
	}
}
