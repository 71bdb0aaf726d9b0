package leasehold_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	leasehold "github.com/leasehold/leasehold/clients/go"
)

func TestAResourceVerifiesAWriterByLockTokenOrFencingToken(t *testing.T) {
	ctx := testContext(t)
	name := lockName(t, "ledger")
	lock := newClient(t, leasehold.Options{}).Lock(name)
	lease := acquire(t, lock, leasehold.LockOptions{TTL: 30 * time.Second, Owner: "writer-1"})
	token := lease.LockToken()

	byToken, err := lock.Verify(ctx, leasehold.Writer{LockToken: token}, "row 17 = 42")
	if err != nil {
		t.Fatal(err)
	}
	byFencing, err := lock.Verify(ctx, leasehold.Writer{FencingToken: lease.FencingToken()}, "")
	if err != nil {
		t.Fatal(err)
	}
	release(t, lease)
	_, lost := lock.Verify(ctx, leasehold.Writer{LockToken: token}, "")

	if byToken.FencingToken != lease.FencingToken() || byToken.Owner != "writer-1" || *byFencing != *byToken {
		t.Fatalf("verified %+v and %+v for lease %d", byToken, byFencing, lease.FencingToken())
	}
	if e := asError(t, lost); !errors.Is(lost, leasehold.ErrLeaseLost) || e.Reason != "released" {
		t.Fatalf("after release: %v", lost)
	}
	note := sql(t, fmt.Sprintf("SELECT note FROM lock_events WHERE name = '%s' AND event = 'verified'", name))
	if note != "row 17 = 42" {
		t.Fatalf("recorded note %q", note)
	}
	if _, err := lock.Verify(ctx, leasehold.Writer{}, ""); err == nil {
		t.Fatal("a check naming no writer was sent")
	}
}
