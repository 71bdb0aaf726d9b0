//go:build !go1.20

package leasehold

import "context"

// withCancelCause is context.WithCancelCause where Go has it (go1.20); here
// the cause is kept by the lease, for Cause to find.
func withCancelCause() (context.Context, func(cause error)) {
	ctx, cancel := context.WithCancel(context.Background())
	return ctx, func(error) { cancel() }
}
