package leasehold_test

import (
	"errors"
	"testing"
	"time"

	leasehold "github.com/leasehold/leasehold/clients/go"
)

// sameKey fails the test unless every request carries one Idempotency-Key.
func sameKey(t *testing.T, requests []seenRequest) {
	t.Helper()
	if len(requests) < 2 {
		t.Fatalf("want a retry, saw %d request(s)", len(requests))
	}
	for _, r := range requests {
		if r.idempotencyKey == "" || r.idempotencyKey != requests[0].idempotencyKey {
			t.Fatalf("Idempotency-Keys differ across retries: %+v", requests)
		}
	}
}

func TestAnAcquireWhoseAnswerWasLostIsRetriedIntoTheSameGrant(t *testing.T) {
	proxy := newFaultyProxy(t)
	client := newClient(t, leasehold.Options{URL: proxy.url})
	name := lockName(t, "once")
	proxy.then(dropAnswer)

	lease := acquire(t, client.Lock(name), leasehold.LockOptions{TTL: 30 * time.Second})

	if proxy.pending() != 0 {
		t.Fatal("no answer was lost")
	}
	sameKey(t, proxy.requests("POST"))
	if acquired := events(t, name, "acquired"); acquired != 1 {
		t.Fatalf("%d grants, want 1: the retry was granted again", acquired)
	}
	status, err := client.Lock(name).Status(testContext(t))
	if err != nil || status.FencingToken != lease.FencingToken() {
		t.Fatalf("status %+v, %v; lease's fencing token %d", status, err, lease.FencingToken())
	}
	release(t, lease) // the replayed grant's lock token is the lease's
	if released := events(t, name, "released"); released != 1 {
		t.Fatalf("%d releases, want 1", released)
	}
}

func TestAReleaseWhoseAnswerWasLostIsStillACleanRelease(t *testing.T) {
	proxy := newFaultyProxy(t)
	client := newClient(t, leasehold.Options{URL: proxy.url})
	name := lockName(t, "let-go")
	lease := acquire(t, client.Lock(name), leasehold.LockOptions{TTL: 30 * time.Second})
	proxy.then(dropAnswer)

	release(t, lease)

	if proxy.pending() != 0 {
		t.Fatal("no answer was lost")
	}
	sameKey(t, proxy.requests("DELETE"))
	if released := events(t, name, "released"); released != 1 {
		t.Fatalf("%d releases, want 1", released)
	}
}

func TestA503IsRetriedAfterItsRetryAfterUnderTheSameKey(t *testing.T) {
	retriedAfterRetryAfter(t, answer503)
}

func TestA429IsRetriedAfterItsRetryAfterUnderTheSameKey(t *testing.T) {
	retriedAfterRetryAfter(t, answer429)
}

func retriedAfterRetryAfter(t *testing.T, refusal fault) {
	t.Parallel()
	proxy := newFaultyProxy(t)
	client := newClient(t, leasehold.Options{URL: proxy.url})
	name := lockName(t, "refused")
	proxy.then(refusal)

	lease := acquire(t, client.Lock(name), leasehold.LockOptions{TTL: 30 * time.Second})
	defer release(t, lease)

	posts := proxy.requests("POST")
	sameKey(t, posts)
	if pause := posts[1].at.Sub(posts[0].at); pause < time.Second {
		t.Fatalf("retried after %v, before the Retry-After of 1 s", pause)
	}
	if acquired := events(t, name, "acquired"); acquired != 1 {
		t.Fatalf("%d grants, want 1", acquired)
	}
}

func TestRetriesGiveUpAfterRetryForWithTheLastRefusal(t *testing.T) {
	t.Parallel()
	proxy := newFaultyProxy(t)
	client := newClient(t, leasehold.Options{URL: proxy.url, RetryFor: 1500 * time.Millisecond})
	proxy.then(answer503, answer503, answer503, answer503)

	started := time.Now()
	_, err := client.Lock(lockName(t, "down")).Acquire(testContext(t), leasehold.LockOptions{})

	if !errors.Is(err, leasehold.ErrUnavailable) || !leasehold.IsTransient(err) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	if unavailable := asError(t, err); unavailable.Status != 503 || unavailable.RetryAfter != time.Second {
		t.Fatalf("want the 503 with its Retry-After, got %+v", unavailable)
	}
	if took := time.Since(started); took > 1500*time.Millisecond {
		t.Fatalf("gave up after %v, past RetryFor", took)
	}
	sameKey(t, proxy.requests("POST"))
}
