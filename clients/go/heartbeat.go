package leasehold

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// heartbeat renews the lease at a third of its time to live from the last
// successful renewal's sending, until ctx is cancelled (Release, Handover)
// or the lease is lost.
func (h *Held) heartbeat(ctx context.Context, lastOK time.Time) {
	defer close(h.done)
	for {
		if !sleep(ctx, time.Until(lastOK.Add(h.ttl/3))) {
			return
		}
		sent, lostErr := h.renewUntil(ctx, lastOK.Add(h.ttl))
		if ctx.Err() != nil {
			return
		}
		if lostErr != nil {
			h.setCause(lostErr)
			return
		}
		lastOK = sent
	}
}

// renewUntil renews, retrying every failure but a lost lease until
// deadline; it returns when the successful renewal was sent, or why the
// lease is lost. Its answer is meaningless once ctx is cancelled.
func (h *Held) renewUntil(ctx context.Context, deadline time.Time) (time.Time, *Error) {
	attempts, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	pauses := newBackoff(100*time.Millisecond, h.ttl/6)
	for {
		sent, err := h.renewOnce(attempts)
		if err == nil && attempts.Err() == nil {
			h.mu.Lock()
			h.validUntil = sent.Add(h.ttl)
			h.mu.Unlock()
			return sent, nil
		}
		var e *Error
		if errors.As(err, &e) && e.Code == CodeLeaseLost {
			return time.Time{}, e
		}
		if attempts.Err() != nil || !sleep(attempts, pauses.next()) {
			return time.Time{}, lost(ReasonRenewalsFailed) // or answered too late to count
		}
	}
}

// renewOnce sends one renewal (with its own retries of transient failures)
// and takes in its answer; it returns when its first attempt was sent.
func (h *Held) renewOnce(ctx context.Context) (time.Time, error) {
	a, err := h.client.renew(ctx, h.path, h.token, 0)
	if err != nil {
		return time.Time{}, err
	}
	if !a.ok() {
		return time.Time{}, errorFrom(a.status, a.retryAfter, a.body)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.renewed(a); err != nil {
		return time.Time{}, err // unreadable: left as it was, and retried
	}
	return a.sent, nil
}

// renew sends POST path/renew with the token (and a new TTL, if not 0).
func (c *Client) renew(ctx context.Context, path, token string, ttl time.Duration) (*answer, error) {
	renewal := mutating(http.MethodPost, path+"/renew")
	renewal.lockToken = token
	if ttl > 0 {
		renewal.body = map[string]int64{"ttl_seconds": wholeSeconds(ttl)}
	}
	return c.send(ctx, renewal)
}

// release sends DELETE path with the token. An answer "released" to a call
// that was retried means an earlier attempt, whose answer was lost, did it.
func (c *Client) release(ctx context.Context, path, token string) error {
	releasing := mutating(http.MethodDelete, path)
	releasing.lockToken = token
	a, err := c.send(ctx, releasing)
	if err != nil {
		return err
	}
	if a.ok() {
		return nil
	}
	e := errorFrom(a.status, a.retryAfter, a.body)
	if e.Code == CodeLeaseLost && e.Reason == ReasonReleased && a.retried {
		return nil
	}
	return e
}
