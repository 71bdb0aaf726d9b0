package leasehold

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Lock is a named lock (exclusive or shared), made by Client.Lock.
type Lock struct {
	client *Client
	name   string
	path   string
}

// LockOptions say how to acquire a lock. Every field may be left zero.
type LockOptions struct {
	// TTL is the lease's time to live, rounded up to whole seconds; 0: the
	// plan's default. The held lease renews itself at a third of it.
	TTL time.Duration
	// Wait is how long to wait in line for the lock; 0 fails at once with
	// ErrLockHeld if it is held.
	Wait time.Duration
	// Owner is a label for people reading the lock's state and audit trail.
	Owner string
	// Metadata is any JSON-encodable value stored with the lease.
	Metadata any
	// Shared holds the lock shared (a read lock): with any number of other
	// shared holders, but no exclusive one.
	Shared bool
}

// HandoverOptions set the next lease's owner and TTL; zero keeps the old ones.
type HandoverOptions struct {
	Owner string
	TTL   time.Duration
}

// Name is the lock's name.
func (l *Lock) Name() string { return l.name }

// Acquire takes the lock, waiting in line up to opts.Wait, and returns the
// held lease, which renews itself until released or lost. A lock still held
// after the wait is a *Error matching ErrLockHeld, with RetryAfter.
func (l *Lock) Acquire(ctx context.Context, opts LockOptions) (*Lease, error) {
	body := leaseBody(opts.TTL, opts.Owner, opts.Metadata)
	if opts.Shared {
		body["mode"] = ModeShared
	}
	return acquireWithin(ctx, opts.Wait, func(serverWait time.Duration) (*Lease, error) {
		acquire := mutating(http.MethodPost, l.path)
		acquire.body = body
		if serverWait > 0 {
			acquire.query = url.Values{"wait": {strconv.FormatInt(int64(serverWait/time.Second), 10)}}
			acquire.extraTimeout = serverWait
		}
		a, err := l.client.send(ctx, acquire)
		if err != nil {
			return nil, err
		}
		var grant Grant
		if err := a.decode(&grant); err != nil {
			return nil, err
		}
		return l.hold(ctx, grant.LeaseInfo, grant.LockToken, a.sent)
	})
}

// Adopt takes up a lease acquired elsewhere (a token handed over): it renews
// it once and holds it, heartbeat and all, from then on.
func (l *Lock) Adopt(ctx context.Context, lockToken string) (*Lease, error) {
	a, err := l.client.renew(ctx, l.path, lockToken, 0)
	if err != nil {
		return nil, err
	}
	var info LeaseInfo
	if err := a.decode(&info); err != nil {
		return nil, err
	}
	return l.hold(ctx, info, lockToken, a.sent)
}

// Status is the lock's current lease, or nil if nobody holds it. A shared
// lock's Mode is "shared" and its Holders lists every reader.
func (l *Lock) Status(ctx context.Context) (*LeaseInfo, error) {
	a, err := l.client.send(ctx, &call{method: http.MethodGet, path: l.path})
	if err != nil {
		return nil, err
	}
	var info LeaseInfo
	if err := a.decode(&info); err != nil {
		if e, ok := err.(*Error); ok && e.Code == CodeLockNotHeld {
			return nil, nil
		}
		return nil, err
	}
	return &info, nil
}

// Holders is the lock's mode and every holder's lease, or nil if nobody
// holds it.
func (l *Lock) Holders(ctx context.Context) (*LockHolders, error) {
	info, err := l.Status(ctx)
	if info == nil || err != nil {
		return nil, err
	}
	return holdersOf(info), nil
}

// Renew renews a lease by its token (a held Lease does this by itself);
// ttl 0 keeps the lease's TTL. A lost lease is a *Error matching
// ErrLeaseLost, with its Reason.
func (l *Lock) Renew(ctx context.Context, lockToken string, ttl time.Duration) (*LeaseInfo, error) {
	a, err := l.client.renew(ctx, l.path, lockToken, ttl)
	if err != nil {
		return nil, err
	}
	var info LeaseInfo
	if err := a.decode(&info); err != nil {
		return nil, err
	}
	return &info, nil
}

// Release releases a lease by its token; a lease lost before is a *Error
// matching ErrLeaseLost, with its Reason.
func (l *Lock) Release(ctx context.Context, lockToken string) error {
	return l.client.release(ctx, l.path, lockToken)
}

// Handover ends the lease of lockToken and grants the next one in one step:
// a new lock token and a higher fencing token, to pass to whoever takes the
// lease up with Adopt.
func (l *Lock) Handover(ctx context.Context, lockToken string, opts HandoverOptions) (*Grant, error) {
	handover := mutating(http.MethodPost, l.path+"/handover")
	handover.lockToken = lockToken
	handover.body = leaseBody(opts.TTL, opts.Owner, nil)
	a, err := l.client.send(ctx, handover)
	if err != nil {
		return nil, err
	}
	var grant Grant
	if err := a.decode(&grant); err != nil {
		return nil, err
	}
	return &grant, nil
}

func (l *Lock) hold(ctx context.Context, info LeaseInfo, lockToken string, sent time.Time) (*Lease, error) {
	lease := &Lease{lock: l, info: info}
	ttl := time.Duration(info.TTLSeconds) * time.Second
	held, err := l.client.hold(ctx, l.path, lockToken, ttl, sent, lease.renewed)
	if err != nil {
		return nil, err
	}
	lease.Held = held
	return lease, nil
}

// leaseBody is an acquire's (or handover's) body: only the fields set.
func leaseBody(ttl time.Duration, owner string, metadata any) map[string]any {
	body := map[string]any{}
	if ttl > 0 {
		body["ttl_seconds"] = wholeSeconds(ttl)
	}
	if owner != "" {
		body["owner"] = owner
	}
	if metadata != nil {
		body["metadata"] = metadata
	}
	return body
}
