package leasehold

import (
	"context"
	"strconv"
	"time"
)

// Lease is a held lock, exclusive or shared. It renews itself at a third of
// its TTL until released, handed over or lost; its Context() ends the
// moment it is not held any more (see Held).
type Lease struct {
	*Held
	lock *Lock
	info LeaseInfo // guarded by Held.mu
}

// Info is the lease as the server last described it (its expiry as of the
// last renewal).
func (l *Lease) Info() LeaseInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// FencingToken is the lease's fencing token: pass it to the resource you
// protect, and have that refuse any lower one.
func (l *Lease) FencingToken() int64 { return l.Info().FencingToken }

// ExpiresAt is the expiry the server gave at the last acquire or renewal,
// by its clock.
func (l *Lease) ExpiresAt() time.Time { return l.Info().ExpiresAt }

// Handover stops the heartbeat, cancels Context() with ErrReleased and
// hands the lock over: this lease ends and the next one (a new lock token,
// a higher fencing token) is returned, for another holder to take up with
// Lock.Adopt. A lease lost before is a *Error matching ErrLeaseLost.
func (l *Lease) Handover(ctx context.Context, opts HandoverOptions) (*Grant, error) {
	var grant *Grant
	err, first := l.end(func(token string) (err error) {
		grant, err = l.lock.Handover(ctx, token, opts)
		return err
	})
	if !first {
		return nil, l.Err() // it had ended: lost, or released
	}
	return grant, err
}

func (l *Lease) renewed(a *answer) error {
	var info LeaseInfo
	if err := a.decode(&info); err != nil {
		return err
	}
	l.info = info
	return nil
}

// String names the lock and the fencing token, never the lock token.
func (l *Lease) String() string {
	return "leasehold.Lease(" + l.lock.name + ", fencing token " + strconv.FormatInt(l.FencingToken(), 10) + ")"
}
