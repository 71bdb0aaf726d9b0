package leasehold

import (
	"context"
	"sync"
	"time"
)

// Held is what every held lease shares (a Lease, a Permit, a LockSetLease):
// its lock token, the heartbeat that renews it at a third of its time to
// live, the context that ends with it, and its release.
//
// The lease is judged lost on this process's monotonic clock: when the
// server refuses a renewal (the lease was lost), or when renewals kept
// failing until the time to live had passed since the last successful
// renewal was sent (it may have lapsed). Either way Context() is cancelled
// at once, and Err (or Cause on the context) says why.
type Held struct {
	client  *Client
	path    string // the lease's resource: renew is POST path/renew, release DELETE path
	token   string
	ttl     time.Duration
	renewed func(*answer) error // takes in a renewal's answer, under mu

	ctx    context.Context
	cancel func(cause error)
	stop   context.CancelFunc // stops the heartbeat
	done   chan struct{}      // closed when the heartbeat has stopped

	mu         sync.Mutex
	validUntil time.Time
	cause      error // why the lease ended; nil while held

	ending sync.Mutex // one Release or Handover at a time
	ended  bool
	endErr error
}

// hold starts the heartbeat of a lease granted (or renewed) by a call first
// sent at sent. A grant that came after a wait in line came at a moment
// within the wait that cannot be known here, so the lease is then dated from
// a renewal sent now, not from the request (which may be older than a TTL).
func (c *Client) hold(ctx context.Context, path, token string, ttl time.Duration, sent time.Time, renewed func(*answer) error) (*Held, error) {
	if ttl < time.Second {
		ttl = time.Second
	}
	if time.Since(sent) > ttl/3 {
		a, err := c.renew(ctx, path, token, 0)
		if err != nil {
			return nil, err
		}
		if err := renewed(a); err != nil {
			return nil, err
		}
		sent = a.sent
	}
	ctx, cancel := withCancelCause()
	beat, stop := context.WithCancel(context.Background())
	h := &Held{
		client: c, path: path, token: token, ttl: ttl, renewed: renewed,
		cancel: cancel, stop: stop, done: make(chan struct{}),
		validUntil: sent.Add(ttl),
	}
	h.ctx = &leaseContext{Context: ctx, held: h}
	go h.heartbeat(beat, sent)
	return h, nil
}

// Context is cancelled the moment the lease is lost, or when this process
// releases it or hands it over; Cause(ctx) (or Err) then says which. Run the
// work the lease protects under it.
func (h *Held) Context() context.Context { return h.ctx }

// Err is nil while the lease is held; then why it is not: a *Error with Code
// "lease_lost" and a Reason (ReasonRenewalsFailed when this client judged
// it), or ErrReleased after Release or Handover.
func (h *Held) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cause
}

// LockToken is the proof of holding the lease. Keep it secret.
func (h *Held) LockToken() string { return h.token }

// ValidUntil is the monotonic time after which the lease may have lapsed:
// a time to live after the last successful renewal was sent.
func (h *Held) ValidUntil() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.validUntil
}

// Release stops the heartbeat, cancels Context() with ErrReleased and
// releases the lease. It returns nil if the lease was held until now; a
// lease_lost *Error (with its Reason) if it had been lost; a transient
// error (IsTransient) if the outcome is unknown: the lease then lapses at
// its expiry. Calling it again, or after Handover, returns the first
// outcome.
func (h *Held) Release(ctx context.Context) error {
	err, _ := h.end(func(token string) error { return h.client.release(ctx, h.path, token) })
	return err
}

// end ends the lease once: stops the heartbeat, cancels the context with
// ErrReleased (unless it was lost), then runs act with the token, unless
// the server said the lease is lost. It reports whether this call ended it.
func (h *Held) end(act func(token string) error) (err error, first bool) {
	h.ending.Lock()
	defer h.ending.Unlock()
	if h.ended {
		return h.endErr, false
	}
	h.ended = true
	h.stop()
	<-h.done
	h.endErr = h.finish(act)
	return h.endErr, true
}

func (h *Held) finish(act func(token string) error) error {
	if cause := h.Err(); cause != nil {
		if lostErr, ok := cause.(*Error); ok && lostErr.Reason != ReasonRenewalsFailed {
			return lostErr
		}
	}
	h.setCause(ErrReleased) // a lease whose renewals failed keeps that cause
	return act(h.token)
}

// setCause ends the context, the first time, with cause.
func (h *Held) setCause(cause error) {
	h.mu.Lock()
	first := h.cause == nil
	if first {
		h.cause = cause
	}
	h.mu.Unlock()
	if first {
		h.cancel(cause)
	}
}

func (h *Held) String() string { return "leasehold.Held(" + h.path + ")" }
