package leasehold

import "context"

// causeKey finds, through any context derived from a held lease's, the
// lease whose end cancelled it.
type causeKey struct{}

// leaseContext is a held lease's context: cancelled when the lease ends.
type leaseContext struct {
	context.Context
	held *Held
}

func (c *leaseContext) Value(key any) any {
	if key == (causeKey{}) {
		return c.held
	}
	return c.Context.Value(key)
}

// Cause says why ctx ended, for a held lease's Context() or a context
// derived from it: a *Error with Code "lease_lost" and its Reason if the
// lease was lost, ErrReleased if this process released it or handed it over.
// For any other ended context it is ctx.Err(); nil while ctx has not ended.
// (With Go 1.20 or later, context.Cause(lease.Context()) says the same.)
func Cause(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if held, ok := ctx.Value(causeKey{}).(*Held); ok {
		if cause := held.Err(); cause != nil {
			return cause
		}
	}
	return ctx.Err()
}
