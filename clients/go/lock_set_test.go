package leasehold_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	leasehold "github.com/leasehold/leasehold/clients/go"
)

func TestALockSetHoldsEveryLockUnderOneToken(t *testing.T) {
	ctx := testContext(t)
	client := newClient(t, leasehold.Options{})
	names := []string{lockName(t, "acct-1"), lockName(t, "acct-2"), lockName(t, "acct-3")}

	set, err := client.LockSet(names...).Acquire(ctx, leasehold.LockSetOptions{Owner: "transfer"})
	if err != nil {
		t.Fatal(err)
	}
	_, memberErr := client.Lock(names[1]).Acquire(ctx, leasehold.LockOptions{})

	if !errors.Is(memberErr, leasehold.ErrLockHeld) {
		t.Fatalf("a member acquired alone: want ErrLockHeld, got %v", memberErr)
	}
	if set.SetID() == "" || len(set.FencingTokens()) != 3 {
		t.Fatalf("set %s, tokens %v", set.SetID(), set.FencingTokens())
	}
	for _, name := range names {
		status, err := client.Lock(name).Status(ctx)
		token, ok := set.FencingToken(name)
		if err != nil || status == nil || !ok || status.FencingToken != token || status.SetID != set.SetID() {
			t.Fatalf("%s: status %+v, %v; set's token %d", name, status, err, token)
		}
	}
	release(t, set)
	for _, name := range names {
		if status, err := client.Lock(name).Status(ctx); status != nil || err != nil {
			t.Fatalf("%s after the release: %+v, %v", name, status, err)
		}
	}
}

func TestALockSetTakesNothingIfOneMemberIsHeld(t *testing.T) {
	ctx := testContext(t)
	client := newClient(t, leasehold.Options{})
	a, b, c := lockName(t, "a"), lockName(t, "b"), lockName(t, "c")
	holder := acquire(t, client.Lock(b), leasehold.LockOptions{})
	defer release(t, holder)

	_, err := client.LockSet(a, b, c).Acquire(ctx, leasehold.LockSetOptions{})

	if !errors.Is(err, leasehold.ErrLockHeld) || !reflect.DeepEqual(asError(t, err).Held, []string{b}) {
		t.Fatalf("want ErrLockHeld naming %s, got %+v", b, err)
	}
	for _, name := range []string{a, c} {
		if status, err := client.Lock(name).Status(ctx); status != nil || err != nil {
			t.Fatalf("%s was taken: %+v, %v", name, status, err)
		}
	}
}

func TestAWaitingLockSetGetsItsLocksOnceTheHolderLetsGo(t *testing.T) {
	ctx := testContext(t)
	client := newClient(t, leasehold.Options{})
	first, second := lockName(t, "pair-a"), lockName(t, "pair-b")
	holder := acquire(t, client.Lock(first), leasehold.LockOptions{})
	released := make(chan error, 1)
	go func() {
		// A set waits in its first member's queue: once it is there, let go.
		for {
			status, err := client.Lock(first).Status(ctx)
			if err != nil || (status != nil && status.Waiters == 1) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		released <- holder.Release(ctx)
	}()

	set, err := client.LockSet(first, second).Acquire(ctx, leasehold.LockSetOptions{Wait: 20 * time.Second})

	if err != nil {
		t.Fatal(err)
	}
	defer release(t, set)
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if token, _ := set.FencingToken(first); token <= holder.FencingToken() {
		t.Fatalf("fencing token %d after %d", token, holder.FencingToken())
	}
}

func TestALockSetRenewsItselfPastItsTTL(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	client := newClient(t, leasehold.Options{})
	names := []string{lockName(t, "r1"), lockName(t, "r2")}
	started := time.Now()
	set, err := client.LockSet(names...).Acquire(ctx, leasehold.LockSetOptions{TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer release(t, set)
	firstExpiry := set.ExpiresAt()

	waitFor(t, 10*time.Second, "renewed past its TTL", func() bool {
		return time.Since(started) > 3*time.Second && set.ExpiresAt().After(firstExpiry.Add(time.Second))
	})

	if set.Err() != nil {
		t.Fatalf("a set renewed on time reads as ended: %v", set.Err())
	}
	for _, name := range names {
		status, err := client.Lock(name).Status(ctx)
		token, _ := set.FencingToken(name)
		if err != nil || status == nil || status.FencingToken != token || !status.ExpiresAt.After(firstExpiry) {
			t.Fatalf("%s: %+v, %v", name, status, err)
		}
	}
}

func TestALockSetsContextIsCancelledWhenAMemberIsTakenOver(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	client := newClient(t, leasehold.Options{})
	names := []string{lockName(t, "m1"), lockName(t, "m2")}
	set, err := client.LockSet(names...).Acquire(ctx, leasehold.LockSetOptions{TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	sql(t, "UPDATE locks SET expires_at = now() - interval '1 second' WHERE name IN ('"+names[0]+"', '"+names[1]+"')")
	sql(t, "UPDATE lock_sets SET expires_at = now() - interval '1 second' WHERE set_id = '"+set.SetID()+"'")
	usurper := acquire(t, client.Lock(names[1]), leasehold.LockOptions{})
	defer release(t, usurper)

	awaitDone(t, set.Context(), 5*time.Second, "the set's context ends within a renewal period")
	if cause := leasehold.Cause(set.Context()); !errors.Is(cause, leasehold.ErrLeaseLost) {
		t.Fatalf("cause %v, want ErrLeaseLost", cause)
	}
	if err := set.Release(ctx); !errors.Is(err, leasehold.ErrLeaseLost) {
		t.Fatalf("releasing the lost set: want ErrLeaseLost, got %v", err)
	}
}
