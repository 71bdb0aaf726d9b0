package leasehold

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Semaphore is a counting semaphore: up to its limit of holders at once,
// each with its own lock token, fencing token and lease. Made by
// Client.Semaphore.
type Semaphore struct {
	client *Client
	name   string
	limit  int
	path   string
}

// SemaphoreOptions say how to take a place. Every field may be left zero.
type SemaphoreOptions struct {
	TTL      time.Duration // the lease's time to live; 0: the plan's default
	Wait     time.Duration // how long to wait for a place; 0 fails at once
	Owner    string
	Metadata any
}

// PermitInfo is one holder's place, as the server granted it.
type PermitInfo struct {
	Namespace    string          `json:"namespace"`
	Name         string          `json:"name"`
	FencingToken int64           `json:"fencing_token"`
	Limit        int             `json:"limit"`
	Holders      int             `json:"holders"` // live holders, this one included, when granted
	Owner        string          `json:"owner"`
	Metadata     json.RawMessage `json:"metadata"`
	AcquiredAt   time.Time       `json:"acquired_at"`
	ExpiresAt    time.Time       `json:"expires_at"` // as of the last acquire or renewal (server clock)
	TTLSeconds   int             `json:"ttl_seconds"`
}

// SemaphoreState is a semaphore's limit and every live holder's lease;
// Limit is 0 when nobody holds it (then any limit may be asked for).
type SemaphoreState struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Limit     int      `json:"limit"`
	Holders   []Holder `json:"holders"`
}

// Permit is a held place in a semaphore, renewed and watched like a Lease.
type Permit struct {
	*Held
	semaphore *Semaphore
	info      PermitInfo // guarded by Held.mu
}

// Acquire takes a place, waiting up to opts.Wait for one. A semaphore still
// full then is a *Error matching ErrSemaphoreFull; one whose live holders use
// another limit, ErrLimitMismatch (with the live Limit).
func (s *Semaphore) Acquire(ctx context.Context, opts SemaphoreOptions) (*Permit, error) {
	return acquireWithin(ctx, opts.Wait, func(serverWait time.Duration) (*Permit, error) {
		body := leaseBody(opts.TTL, opts.Owner, opts.Metadata)
		body["limit"] = s.limit
		acquire := mutating(http.MethodPost, s.path)
		acquire.body = withWait(body, serverWait)
		acquire.extraTimeout = serverWait
		a, err := s.client.send(ctx, acquire)
		if err != nil {
			return nil, err
		}
		var grant struct {
			PermitInfo
			LockToken string `json:"lock_token"`
		}
		if err := a.decode(&grant); err != nil {
			return nil, err
		}
		permit := &Permit{semaphore: s, info: grant.PermitInfo}
		ttl := time.Duration(grant.TTLSeconds) * time.Second
		held, err := s.client.hold(ctx, s.path, grant.LockToken, ttl, a.sent, permit.renewed)
		if err != nil {
			return nil, err
		}
		permit.Held = held
		return permit, nil
	})
}

// Status is the semaphore's limit and every live holder's lease.
func (s *Semaphore) Status(ctx context.Context) (*SemaphoreState, error) {
	a, err := s.client.send(ctx, &call{method: http.MethodGet, path: s.path})
	if err != nil {
		return nil, err
	}
	var state SemaphoreState
	if err := a.decode(&state); err != nil {
		return nil, err
	}
	return &state, nil
}

// Info is the place as granted, with the expiry of the last renewal.
func (p *Permit) Info() PermitInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// FencingToken is higher than every fencing token the semaphore gave before.
func (p *Permit) FencingToken() int64 { return p.Info().FencingToken }

// ExpiresAt is the expiry the server gave at the last acquire or renewal.
func (p *Permit) ExpiresAt() time.Time { return p.Info().ExpiresAt }

func (p *Permit) renewed(a *answer) error {
	expiresAt, err := renewedExpiry(a)
	if err != nil {
		return err
	}
	p.info.ExpiresAt = expiresAt
	return nil
}

// String names the semaphore and the fencing token, never the lock token.
func (p *Permit) String() string {
	return "leasehold.Permit(" + p.semaphore.name + ", fencing token " + strconv.FormatInt(p.FencingToken(), 10) + ")"
}

// withWait adds wait_seconds to an acquire's body when the server may wait.
func withWait(body map[string]any, serverWait time.Duration) map[string]any {
	if serverWait > 0 {
		body["wait_seconds"] = int64(serverWait / time.Second)
	}
	return body
}

// renewedExpiry is the new expires_at a renewal's answer carries.
func renewedExpiry(a *answer) (time.Time, error) {
	var renewal struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := a.decode(&renewal); err != nil {
		return time.Time{}, err
	}
	if renewal.ExpiresAt.IsZero() {
		return time.Time{}, &Error{Status: a.status, Code: CodeUnexpectedResponse, Message: "a renewal without expires_at"}
	}
	return renewal.ExpiresAt, nil
}
