package leasehold

import (
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestLeaseLostCarriesTheServersReason(t *testing.T) {
	e := errorFrom(410, 0, []byte(`{"error":{"code":"lease_lost","message":"gone","reason":"superseded"}}`))

	if !errors.Is(e, ErrLeaseLost) || e.Reason != ReasonSuperseded || e.Status != 410 {
		t.Fatalf("%+v", e)
	}
	if e.Error() != "leasehold: lease_lost (superseded): gone" {
		t.Fatalf("%q", e.Error())
	}
}

func TestLeaseLostWithoutAReasonIsUnspecified(t *testing.T) {
	e := errorFrom(410, 0, []byte(`{"error":{"code":"lease_lost","message":"gone"}}`))

	if e.Reason != ReasonUnspecified {
		t.Fatalf("%+v", e)
	}
}

func TestLockHeldCarriesTheHoldersLeaseAndRetryAfter(t *testing.T) {
	body := `{"error":{"code":"lock_held","message":"held"},
		"lock":{"namespace":"a","name":"b","fencing_token":7,"owner":null,"mode":"exclusive",
		"acquired_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:01:00.123456Z","ttl_seconds":60,"metadata":null}}`

	e := errorFrom(409, 3*time.Second, []byte(body))

	if !errors.Is(e, ErrLockHeld) || e.RetryAfter != 3*time.Second || e.Lock == nil || e.Lock.FencingToken != 7 {
		t.Fatalf("%+v", e)
	}
	if want := time.Date(2026, 1, 1, 0, 1, 0, 123456000, time.UTC); !e.Lock.ExpiresAt.Equal(want) {
		t.Fatalf("expires at %v", e.Lock.ExpiresAt)
	}
}

func TestAFreeLockPromisedToWaitersIsHeld(t *testing.T) {
	e := errorFrom(409, time.Second, []byte(`{"error":{"code":"lock_held","message":"reserved"},"waiters":2}`))

	if !errors.Is(e, ErrLockHeld) || e.Waiters != 2 || e.Lock != nil {
		t.Fatalf("%+v", e)
	}
}

func TestConflictsOfSemaphoresAndLockSetsAreTheirOwn(t *testing.T) {
	full := errorFrom(409, 2*time.Second, []byte(`{"error":{"code":"semaphore_full","message":"full"},"limit":2,"holders":2}`))
	mismatch := errorFrom(409, 0, []byte(`{"error":{"code":"limit_mismatch","message":"limit 3"},"limit":3}`))
	setHeld := errorFrom(409, time.Second, []byte(`{"error":{"code":"lock_held","message":"held: b, c"},"held":["b","c"]}`))

	if !errors.Is(full, ErrSemaphoreFull) || full.Limit != 2 || full.Holders != 2 || full.RetryAfter != 2*time.Second {
		t.Fatalf("%+v", full)
	}
	if !errors.Is(mismatch, ErrLimitMismatch) || errors.Is(mismatch, ErrSemaphoreFull) || mismatch.Limit != 3 {
		t.Fatalf("%+v", mismatch)
	}
	if !errors.Is(setHeld, ErrLockHeld) || !reflect.DeepEqual(setHeld.Held, []string{"b", "c"}) {
		t.Fatalf("%+v", setHeld)
	}
	if setHeld.Error() != "leasehold: lock_held [b, c]: held: b, c" {
		t.Fatalf("%q", setHeld.Error())
	}
}

func TestStatusesMatchTheirSentinels(t *testing.T) {
	cases := []struct {
		status   int
		code     string
		sentinel error
	}{
		{401, "unauthorized", ErrUnauthorized},
		{403, "plan_forbids", ErrForbidden},
		{400, "invalid_ttl", ErrInvalidRequest},
		{422, "idempotency_key_reused", ErrInvalidRequest},
		{404, "namespace_not_found", ErrNamespaceNotFound},
		{404, "lock_not_held", ErrNotHeld},
		{503, "database_unavailable", ErrUnavailable},
		{429, "rate_limited", ErrUnavailable},
	}
	for _, c := range cases {
		e := errorFrom(c.status, 0, []byte(`{"error":{"code":"`+c.code+`","message":"m"}}`))
		if !errors.Is(e, c.sentinel) || e.Code != c.code || errors.Is(e, ErrLockHeld) {
			t.Errorf("%d %s: %+v does not match %v alone", c.status, c.code, e, c.sentinel)
		}
	}
	if !IsTransient(errorFrom(503, 0, []byte(`{"error":{"code":"database_unavailable"}}`))) || IsTransient(lost(ReasonExpired)) {
		t.Error("only unavailable and unreachable are transient")
	}
}

func TestABodyThatIsNotAnAPIErrorIsUnexpected(t *testing.T) {
	e := errorFrom(502, 0, []byte("Bad Gateway"))

	if e.Code != CodeUnexpectedResponse || e.Status != 502 || e.Message != "Bad Gateway" {
		t.Fatalf("%+v", e)
	}
}

func TestRetryAfterIsReadInSecondsOrAsADate(t *testing.T) {
	seconds := http.Header{"Retry-After": {"3"}}
	date := http.Header{"Retry-After": {time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat)}}

	if got := retryAfter(seconds); got != 3*time.Second {
		t.Fatalf("%v", got)
	}
	if got := retryAfter(date); got <= 3*time.Second || got > 5*time.Second {
		t.Fatalf("%v", got)
	}
	if got := retryAfter(http.Header{"Retry-After": {"soon"}}); got != 0 {
		t.Fatalf("%v", got)
	}
}
