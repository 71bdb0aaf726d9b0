package leasehold_test

import (
	"errors"
	"sort"
	"testing"
	"time"

	leasehold "github.com/leasehold/leasehold/clients/go"
)

func TestTwoReadersHoldTogetherAndKeepAWriterOut(t *testing.T) {
	ctx := testContext(t)
	lock := newClient(t, leasehold.Options{}).Lock(lockName(t, "catalog"))
	first := acquire(t, lock, leasehold.LockOptions{Shared: true})
	second := acquire(t, lock, leasehold.LockOptions{Shared: true})

	_, writerErr := lock.Acquire(ctx, leasehold.LockOptions{})
	holders, err := lock.Holders(ctx)
	if err != nil {
		t.Fatal(err)
	}

	if !errors.Is(writerErr, leasehold.ErrLockHeld) {
		t.Fatalf("a writer among readers: want ErrLockHeld, got %v", writerErr)
	}
	if conflict := asError(t, writerErr); conflict.Lock == nil || conflict.Lock.Mode != leasehold.ModeShared {
		t.Fatalf("the conflict says the lock is held shared: %+v", conflict.Lock)
	}
	if holders.Mode != leasehold.ModeShared || !sameTokens(tokensOf(holders.Holders), first.FencingToken(), second.FencingToken()) {
		t.Fatalf("holders %+v; readers %d and %d", holders, first.FencingToken(), second.FencingToken())
	}
	if first.LockToken() == second.LockToken() {
		t.Fatal("two readers share a lock token")
	}
	release(t, first)
	release(t, second)
	release(t, acquire(t, lock, leasehold.LockOptions{})) // free for a writer now
}

func TestAWriterKeepsReadersOut(t *testing.T) {
	ctx := testContext(t)
	lock := newClient(t, leasehold.Options{}).Lock(lockName(t, "ledger"))
	writer := acquire(t, lock, leasehold.LockOptions{})
	defer release(t, writer)

	_, readerErr := lock.Acquire(ctx, leasehold.LockOptions{Shared: true})
	holders, err := lock.Holders(ctx)

	if !errors.Is(readerErr, leasehold.ErrLockHeld) {
		t.Fatalf("a reader while a writer holds it: want ErrLockHeld, got %v", readerErr)
	}
	if err != nil || holders.Mode != leasehold.ModeExclusive || !sameTokens(tokensOf(holders.Holders), writer.FencingToken()) {
		t.Fatalf("holders %+v, %v", holders, err)
	}
}

func TestAReaderRenewsItselfPastItsTTLAndReleasesAlone(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	lock := newClient(t, leasehold.Options{}).Lock(lockName(t, "index"))
	started := time.Now()
	staying := acquire(t, lock, leasehold.LockOptions{TTL: 2 * time.Second, Shared: true})
	leaving := acquire(t, lock, leasehold.LockOptions{TTL: 2 * time.Second, Shared: true})
	firstExpiry := staying.ExpiresAt()

	waitFor(t, 10*time.Second, "renewed past its TTL", func() bool {
		return time.Since(started) > 3*time.Second && staying.ExpiresAt().After(firstExpiry.Add(time.Second))
	})
	release(t, leaving)
	holders, err := lock.Holders(ctx)

	if staying.Err() != nil || leaving.Err() != leasehold.ErrReleased {
		t.Fatalf("staying: %v, leaving: %v", staying.Err(), leaving.Err())
	}
	if err != nil || !sameTokens(tokensOf(holders.Holders), staying.FencingToken()) {
		t.Fatalf("after one reader left: %+v, %v", holders, err)
	}
	release(t, staying)
	if holders, err := lock.Holders(ctx); holders != nil || err != nil {
		t.Fatalf("after both left: %+v, %v", holders, err)
	}
}

func tokensOf(holders []leasehold.Holder) []int64 {
	var tokens []int64
	for _, h := range holders {
		tokens = append(tokens, h.FencingToken)
	}
	return tokens
}

// sameTokens reports whether got holds exactly want, in any order.
func sameTokens(got []int64, want ...int64) bool {
	if len(got) != len(want) {
		return false
	}
	got, want = append([]int64(nil), got...), append([]int64(nil), want...)
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
