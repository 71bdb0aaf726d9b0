package leasehold_test

import (
	"errors"
	"testing"
	"time"

	leasehold "github.com/leasehold/leasehold/clients/go"
)

func TestAnAcquiredLockIsHeldUntilReleased(t *testing.T) {
	ctx := testContext(t)
	lock := newClient(t, leasehold.Options{}).Lock(lockName(t, "billing"))

	lease := acquire(t, lock, leasehold.LockOptions{TTL: 30 * time.Second, Owner: "worker-1"})
	seen, err := lock.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if seen == nil || seen.FencingToken != lease.FencingToken() || lease.FencingToken() <= 0 {
		t.Fatalf("status %+v, lease's fencing token %d", seen, lease.FencingToken())
	}
	if seen.Owner != "worker-1" || seen.TTLSeconds != 30 || seen.Mode != leasehold.ModeExclusive {
		t.Fatalf("status %+v", seen)
	}
	if lease.Err() != nil || lease.Context().Err() != nil {
		t.Fatalf("a held lease reads as ended: %v", lease.Err())
	}

	release(t, lease)

	if after, err := lock.Status(ctx); after != nil || err != nil {
		t.Fatalf("after release: %+v, %v", after, err)
	}
	awaitDone(t, lease.Context(), time.Second, "the context ends with the release")
	if cause := leasehold.Cause(lease.Context()); cause != leasehold.ErrReleased {
		t.Fatalf("cause %v, want ErrReleased", cause)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatalf("a second release returns the first's outcome, got %v", err)
	}
}

func TestAcquiringAHeldLockFailsFastWithLockHeldAndRetryAfter(t *testing.T) {
	lock := newClient(t, leasehold.Options{}).Lock(lockName(t, "busy"))
	holder := acquire(t, lock, leasehold.LockOptions{TTL: 30 * time.Second})
	defer release(t, holder)

	started := time.Now()
	_, err := lock.Acquire(testContext(t), leasehold.LockOptions{})

	if !errors.Is(err, leasehold.ErrLockHeld) {
		t.Fatalf("want ErrLockHeld, got %v", err)
	}
	if time.Since(started) > 2*time.Second {
		t.Fatalf("a fail-fast acquire took %v", time.Since(started))
	}
	held := asError(t, err)
	if held.Status != 409 || held.Code != leasehold.CodeLockHeld || held.RetryAfter <= 0 {
		t.Fatalf("want 409 lock_held with Retry-After, got %+v", held)
	}
	if held.Lock == nil || held.Lock.FencingToken != holder.FencingToken() || !held.Lock.ExpiresAt.Equal(holder.ExpiresAt()) {
		t.Fatalf("the conflict shows the holder's lease: %+v, holder %+v", held.Lock, holder.Info())
	}
}

func TestAWaitingAcquireGetsTheLockWhenTheHolderReleases(t *testing.T) {
	ctx := testContext(t)
	lock := newClient(t, leasehold.Options{}).Lock(lockName(t, "queue"))
	holder := acquire(t, lock, leasehold.LockOptions{TTL: 30 * time.Second})
	released := releaseOnceQueued(ctx, lock, holder, 0)

	started := time.Now()
	lease, err := lock.Acquire(ctx, leasehold.LockOptions{TTL: 30 * time.Second, Wait: 20 * time.Second})

	if err != nil {
		t.Fatal(err)
	}
	defer release(t, lease)
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if lease.FencingToken() <= holder.FencingToken() {
		t.Fatalf("fencing token %d after %d", lease.FencingToken(), holder.FencingToken())
	}
	if time.Since(started) > 10*time.Second {
		t.Fatalf("granted %v after the wait began", time.Since(started))
	}
}

func TestAWaitThatRunsOutIsLockHeld(t *testing.T) {
	lock := newClient(t, leasehold.Options{}).Lock(lockName(t, "long"))
	holder := acquire(t, lock, leasehold.LockOptions{TTL: 30 * time.Second})
	defer release(t, holder)

	started := time.Now()
	_, err := lock.Acquire(testContext(t), leasehold.LockOptions{Wait: time.Second})

	if !errors.Is(err, leasehold.ErrLockHeld) {
		t.Fatalf("want ErrLockHeld, got %v", err)
	}
	if waited := time.Since(started); waited < time.Second || waited > 6*time.Second {
		t.Fatalf("gave up after %v, want about 1 s", waited)
	}
}

func TestRenewAndReleaseByToken(t *testing.T) {
	ctx := testContext(t)
	lock := newClient(t, leasehold.Options{}).Lock(lockName(t, "manual"))
	lease := acquire(t, lock, leasehold.LockOptions{TTL: 30 * time.Second})
	token, before := lease.LockToken(), lease.ExpiresAt()

	renewed, err := lock.Renew(ctx, token, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.TTLSeconds != 60 || !renewed.ExpiresAt.After(before) || renewed.FencingToken != lease.FencingToken() {
		t.Fatalf("renewed %+v; before it expired at %v", renewed, before)
	}
	if err := lock.Release(ctx, token); err != nil {
		t.Fatal(err)
	}

	err = lock.Release(ctx, token)
	if lostErr := asError(t, err); lostErr.Status != 410 || lostErr.Reason != leasehold.ReasonReleased {
		t.Fatalf("a second release: want 410 lease_lost (released), got %+v", lostErr)
	}
	if _, err := lock.Renew(ctx, token, 0); !errors.Is(err, leasehold.ErrLeaseLost) {
		t.Fatalf("renewing a released lease: want ErrLeaseLost, got %v", err)
	}
	_ = lease.Release(ctx) // its heartbeat stops; the lease was released above
}

func TestAHandedOverLeaseIsAdoptedWithAHigherFencingToken(t *testing.T) {
	ctx := testContext(t)
	lock := newClient(t, leasehold.Options{}).Lock(lockName(t, "relay"))
	first := acquire(t, lock, leasehold.LockOptions{TTL: 30 * time.Second})

	grant, err := first.Handover(ctx, leasehold.HandoverOptions{Owner: "runner-2"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := lock.Adopt(ctx, grant.LockToken)
	if err != nil {
		t.Fatal(err)
	}
	defer release(t, second)

	if grant.FencingToken <= first.FencingToken() || second.FencingToken() != grant.FencingToken {
		t.Fatalf("first %d, grant %d, adopted %d", first.FencingToken(), grant.FencingToken, second.FencingToken())
	}
	if status, err := lock.Status(ctx); err != nil || status.Owner != "runner-2" || status.FencingToken != grant.FencingToken {
		t.Fatalf("status %+v, %v", status, err)
	}
	if cause := leasehold.Cause(first.Context()); cause != leasehold.ErrReleased {
		t.Fatalf("the handed-over lease's context: cause %v", cause)
	}
	err = lock.Release(ctx, first.LockToken())
	if lostErr := asError(t, err); lostErr.Reason != leasehold.ReasonReleased {
		t.Fatalf("the old token: want lease_lost (released), got %+v", lostErr)
	}
}

func TestRefusalsAreTypedErrors(t *testing.T) {
	ctx := testContext(t)
	name := lockName(t, "x")

	_, err := newClient(t, leasehold.Options{APIKey: "lh_not_a_key"}).Lock(name).Acquire(ctx, leasehold.LockOptions{})
	if !errors.Is(err, leasehold.ErrUnauthorized) || asError(t, err).Status != 401 {
		t.Fatalf("a wrong key: %v", err)
	}
	_, err = newClient(t, leasehold.Options{Namespace: "someone-else"}).Lock(name).Acquire(ctx, leasehold.LockOptions{})
	if !errors.Is(err, leasehold.ErrNamespaceNotFound) {
		t.Fatalf("another's namespace: %v", err)
	}
	_, err = newClient(t, leasehold.Options{URL: "http://127.0.0.1:9", RetryFor: 300 * time.Millisecond}).Lock(name).Acquire(ctx, leasehold.LockOptions{})
	if !errors.Is(err, leasehold.ErrUnreachable) || !leasehold.IsTransient(err) {
		t.Fatalf("no server: %v", err)
	}
}

func TestANameWithEveryAllowedCharacterRoundTrips(t *testing.T) {
	ctx := testContext(t)
	name := "jobs:nightly@host-1.eu_west." + lockName(t, "x")
	lock := newClient(t, leasehold.Options{}).Lock(name)
	lease := acquire(t, lock, leasehold.LockOptions{})
	defer release(t, lease)

	status, err := lock.Status(ctx)

	if err != nil || status.Name != name || status.FencingToken != lease.FencingToken() {
		t.Fatalf("status %+v, %v", status, err)
	}
}
