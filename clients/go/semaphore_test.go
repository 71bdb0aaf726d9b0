package leasehold_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	leasehold "github.com/leasehold/leasehold/clients/go"
)

func takePlace(t *testing.T, semaphore *leasehold.Semaphore, opts leasehold.SemaphoreOptions) *leasehold.Permit {
	t.Helper()
	permit, err := semaphore.Acquire(testContext(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return permit
}

func TestASemaphoreAdmitsUpToItsLimit(t *testing.T) {
	ctx := testContext(t)
	client := newClient(t, leasehold.Options{})
	gpus := client.Semaphore(lockName(t, "gpus"), 2)
	first := takePlace(t, gpus, leasehold.SemaphoreOptions{Owner: "job-0"})
	second := takePlace(t, gpus, leasehold.SemaphoreOptions{Owner: "job-1"})

	_, fullErr := gpus.Acquire(ctx, leasehold.SemaphoreOptions{})
	state, err := gpus.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if !errors.Is(fullErr, leasehold.ErrSemaphoreFull) {
		t.Fatalf("a third place of 2: want ErrSemaphoreFull, got %v", fullErr)
	}
	if full := asError(t, fullErr); full.Limit != 2 || full.Holders != 2 || full.RetryAfter <= 0 {
		t.Fatalf("want the limit, the holders and Retry-After: %+v", full)
	}
	if state.Limit != 2 || !sameTokens(tokensOf(state.Holders), first.FencingToken(), second.FencingToken()) {
		t.Fatalf("state %+v", state)
	}
	if second.Info().Holders != 2 || second.Info().Limit != 2 {
		t.Fatalf("the second permit %+v", second.Info())
	}
	release(t, first)
	release(t, second)
	if state, err := gpus.Status(ctx); err != nil || state.Limit != 0 || len(state.Holders) != 0 {
		t.Fatalf("free, so any limit may be asked for: %+v, %v", state, err)
	}
	third := takePlace(t, client.Semaphore(lockName(t, "gpus"), 5), leasehold.SemaphoreOptions{})
	defer release(t, third)
	if third.FencingToken() <= second.FencingToken() {
		t.Fatalf("fencing token %d after %d", third.FencingToken(), second.FencingToken())
	}
}

func TestADifferentLimitThanTheLiveOneIsAMismatch(t *testing.T) {
	client := newClient(t, leasehold.Options{})
	name := lockName(t, "slots")
	holder := takePlace(t, client.Semaphore(name, 3), leasehold.SemaphoreOptions{})
	defer release(t, holder)

	_, err := client.Semaphore(name, 4).Acquire(testContext(t), leasehold.SemaphoreOptions{})

	if !errors.Is(err, leasehold.ErrLimitMismatch) || asError(t, err).Limit != 3 {
		t.Fatalf("want ErrLimitMismatch with the live limit 3, got %+v", err)
	}
}

func TestAWaitingAcquireGetsThePlaceAHolderGivesUp(t *testing.T) {
	ctx := testContext(t)
	name := lockName(t, "single")
	single := newClient(t, leasehold.Options{}).Semaphore(name, 1)
	holder := takePlace(t, single, leasehold.SemaphoreOptions{})
	released := make(chan error, 1)
	go func() {
		// Once the waiter below is in line (a semaphore's queue is `semaphore/NAME`), let go.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			waiting, err := psql(server.databaseURL, "SELECT count(*) FROM lock_waiters WHERE name = 'semaphore/"+name+"'")
			if n, _ := strconv.Atoi(waiting); err != nil || n > 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		released <- holder.Release(ctx)
	}()

	started := time.Now()
	place, err := single.Acquire(ctx, leasehold.SemaphoreOptions{Wait: 20 * time.Second})

	if err != nil {
		t.Fatal(err)
	}
	defer release(t, place)
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if place.FencingToken() <= holder.FencingToken() || time.Since(started) > 10*time.Second {
		t.Fatalf("fencing token %d after %d, granted after %v", place.FencingToken(), holder.FencingToken(), time.Since(started))
	}
}

func TestAPermitRenewsItselfPastItsTTL(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	renewed := newClient(t, leasehold.Options{}).Semaphore(lockName(t, "renewed"), 2)
	started := time.Now()
	place := takePlace(t, renewed, leasehold.SemaphoreOptions{TTL: 2 * time.Second})
	defer release(t, place)
	firstExpiry := place.ExpiresAt()

	waitFor(t, 10*time.Second, "renewed past its TTL", func() bool {
		return time.Since(started) > 3*time.Second && place.ExpiresAt().After(firstExpiry.Add(time.Second))
	})
	state, err := renewed.Status(ctx)

	if place.Err() != nil {
		t.Fatalf("a permit renewed on time reads as ended: %v", place.Err())
	}
	if err != nil || !sameTokens(tokensOf(state.Holders), place.FencingToken()) {
		t.Fatalf("state %+v, %v", state, err)
	}
}
