// Package leasehold is the Go client of Leasehold, a durable lock server:
// exclusive and shared locks, semaphores and lock sets, with leases that
// renew themselves and say the moment they are lost. Standard library only.
//
//	client, err := leasehold.NewFromEnv() // LEASEHOLD_URL, LEASEHOLD_API_KEY
//	lease, err := client.Lock("nightly-billing").Acquire(ctx, leasehold.LockOptions{
//		TTL: 30 * time.Second, Wait: 10 * time.Second, Owner: "cron@host-1",
//	})
//	if errors.Is(err, leasehold.ErrLockHeld) { ... }
//	defer lease.Release(ctx)
//	err = bill(lease.Context(), lease.FencingToken()) // stops when the lease is lost
//
// A held lease (Lease, Permit, LockSetLease) renews itself at a third of its
// time to live. Its Context() is cancelled the moment the lease is lost: the
// server refused a renewal, or renewals failed until the time to live had
// passed since the last successful renewal was sent, judged on this
// process's monotonic clock. Cause(lease.Context()) says why (with Go 1.20
// or later, so does context.Cause).
//
// Every mutating call carries an Idempotency-Key, and connection errors,
// timeouts, 503 and 429 are retried with backoff (honouring Retry-After)
// under that same key, so a lost answer never becomes a second grant.
//
// Errors the server reports are *Error values carrying its code; test them
// with errors.Is against ErrLockHeld, ErrLeaseLost and the other sentinels,
// or errors.As for the details (Reason, RetryAfter, Held, Limit).
package leasehold
