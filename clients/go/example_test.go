package leasehold_test

import (
	"context"
	"errors"
	"log"
	"time"

	leasehold "github.com/leasehold/leasehold/clients/go"
)

func bill(ctx context.Context, fencingToken int64) error { return ctx.Err() }

func ExampleLock_Acquire() {
	ctx := context.Background()
	client, err := leasehold.NewFromEnv() // LEASEHOLD_URL and LEASEHOLD_API_KEY
	if err != nil {
		log.Fatal(err)
	}
	lease, err := client.Lock("nightly-billing").Acquire(ctx, leasehold.LockOptions{
		TTL:  30 * time.Second,
		Wait: 10 * time.Second, // in line, fairly; then ErrLockHeld
	})
	if errors.Is(err, leasehold.ErrLockHeld) {
		log.Print("someone else is billing")
		return
	} else if err != nil {
		log.Fatal(err)
	}
	defer lease.Release(ctx)

	// The work stops when the lease is lost; the fencing token lets the
	// database refuse a writer whose lease has been taken over.
	if err := bill(lease.Context(), lease.FencingToken()); err != nil {
		log.Printf("stopped: %v", leasehold.Cause(lease.Context()))
	}
}

func ExampleSemaphore_Acquire() {
	ctx := context.Background()
	client, _ := leasehold.NewFromEnv()
	place, err := client.Semaphore("gpu-pool", 4).Acquire(ctx, leasehold.SemaphoreOptions{Wait: 5 * time.Minute})
	if err != nil {
		log.Fatal(err) // ErrSemaphoreFull after the wait; ErrLimitMismatch if others use another limit
	}
	defer place.Release(ctx)
	log.Printf("place %d of %d", place.Info().Holders, place.Info().Limit)
}

func ExampleLockSet_Acquire() {
	ctx := context.Background()
	client, _ := leasehold.NewFromEnv()
	both, err := client.LockSet("account:17", "account:42").Acquire(ctx, leasehold.LockSetOptions{})
	var held *leasehold.Error
	if errors.As(err, &held) && held.Code == leasehold.CodeLockHeld {
		log.Fatalf("held: %v (nothing was taken)", held.Held)
	} else if err != nil {
		log.Fatal(err)
	}
	defer both.Release(ctx)
	from, _ := both.FencingToken("account:17")
	to, _ := both.FencingToken("account:42")
	log.Print(from, to)
}
