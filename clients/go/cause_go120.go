//go:build go1.20

package leasehold

import "context"

// withCancelCause lets context.Cause(lease.Context()) say why the lease ended.
func withCancelCause() (context.Context, func(cause error)) {
	ctx, cancel := context.WithCancelCause(context.Background())
	return ctx, cancel
}
