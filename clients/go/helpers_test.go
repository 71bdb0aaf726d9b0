package leasehold_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	leasehold "github.com/leasehold/leasehold/clients/go"
)

// newClient is a client of the test server, with the options given.
func newClient(t *testing.T, opts leasehold.Options) *leasehold.Client {
	t.Helper()
	if opts.URL == "" {
		opts.URL = server.url
	}
	if opts.APIKey == "" {
		opts.APIKey = server.key
	}
	client, err := leasehold.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// lockName is a lock name of this test's own: the tests share one server.
func lockName(t *testing.T, suffix string) string {
	return strings.ReplaceAll(t.Name(), "/", ".") + ":" + suffix
}

// testContext ends with the test, or after a minute.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// events counts the audit rows of one kind (acquired, renewed, ...) of a lock
// or semaphore.
func events(t *testing.T, name, event string) int {
	t.Helper()
	count, err := strconv.Atoi(sql(t, "SELECT count(*) FROM lock_events WHERE name = '"+name+"' AND event = '"+event+"'"))
	if err != nil {
		t.Fatal(err)
	}
	return count
}

// waitFor polls condition (a cheap read of state the test cannot be told
// about otherwise) until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, condition func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitDone waits for ctx to end, failing the test after limit.
func awaitDone(t *testing.T, ctx context.Context, limit time.Duration, what string) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(limit):
		t.Fatalf("not within %v: %s", limit, what)
	}
}

// asError is err as a *leasehold.Error, failing the test if it is not one.
func asError(t *testing.T, err error) *leasehold.Error {
	t.Helper()
	var e *leasehold.Error
	if !errors.As(err, &e) {
		t.Fatalf("want a *leasehold.Error, got %T: %v", err, err)
	}
	return e
}

func acquire(t *testing.T, lock *leasehold.Lock, opts leasehold.LockOptions) *leasehold.Lease {
	t.Helper()
	lease, err := lock.Acquire(testContext(t), opts)
	if err != nil {
		t.Fatalf("acquire %s: %v", lock.Name(), err)
	}
	return lease
}

func release(t *testing.T, held interface{ Release(context.Context) error }) {
	t.Helper()
	if err := held.Release(testContext(t)); err != nil {
		t.Fatalf("release: %v", err)
	}
}

// releaseOnceQueued releases holder's lease `after` a waiter got in line
// for lock; the release's outcome comes on the channel.
func releaseOnceQueued(ctx context.Context, lock *leasehold.Lock, holder *leasehold.Lease, after time.Duration) <-chan error {
	released := make(chan error, 1)
	go func() {
		for {
			status, err := lock.Status(ctx)
			if err != nil || (status != nil && status.Waiters == 1) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(after)
		released <- holder.Release(ctx)
	}()
	return released
}
