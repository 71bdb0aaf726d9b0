package leasehold

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// DefaultLockSetTTL is a lock set's time to live unless LockSetOptions.TTL
// says otherwise: the heartbeat must know it before the grant arrives.
const DefaultLockSetTTL = 30 * time.Second

// LockSet is several locks (2 to 64) to hold all together or not at all,
// under one lock token and one lease. Made by Client.LockSet.
type LockSet struct {
	client *Client
	names  []string
	path   string // the collection of lock sets
}

// LockSetOptions say how to acquire a lock set. Every field may be left zero.
type LockSetOptions struct {
	TTL   time.Duration // the set's time to live; 0: DefaultLockSetTTL
	Wait  time.Duration // how long to wait for every lock to be free; 0 fails at once
	Owner string
}

// LockSetLease is a held lock set, renewed and watched like a Lease; its
// Release releases every lock of the set.
type LockSetLease struct {
	*Held
	setID     string
	tokens    map[string]int64
	expiresAt time.Time // guarded by Held.mu
}

type lockSetGrant struct {
	SetID      string    `json:"set_id"`
	LockToken  string    `json:"lock_token"`
	ExpiresAt  time.Time `json:"expires_at"`
	TTLSeconds int       `json:"ttl_seconds"`
	Locks      []struct {
		Name         string `json:"name"`
		FencingToken int64  `json:"fencing_token"`
	} `json:"locks"`
}

// Acquire takes every lock of the set or none, waiting up to opts.Wait for
// all to be free. Locks still held then are a *Error matching ErrLockHeld
// whose Held names them; nothing was taken.
func (s *LockSet) Acquire(ctx context.Context, opts LockSetOptions) (*LockSetLease, error) {
	ttl := opts.TTL
	if ttl <= 0 {
		ttl = DefaultLockSetTTL
	}
	return acquireWithin(ctx, opts.Wait, func(serverWait time.Duration) (*LockSetLease, error) {
		body := leaseBody(ttl, opts.Owner, nil)
		body["names"] = s.names
		acquire := mutating(http.MethodPost, s.path)
		acquire.body = withWait(body, serverWait)
		acquire.extraTimeout = serverWait
		a, err := s.client.send(ctx, acquire)
		if err != nil {
			return nil, err
		}
		var grant lockSetGrant
		if err := a.decode(&grant); err != nil {
			return nil, err
		}
		return s.hold(ctx, grant, ttl, a.sent)
	})
}

func (s *LockSet) hold(ctx context.Context, grant lockSetGrant, asked time.Duration, sent time.Time) (*LockSetLease, error) {
	set := &LockSetLease{setID: grant.SetID, tokens: map[string]int64{}, expiresAt: grant.ExpiresAt}
	for _, lock := range grant.Locks {
		set.tokens[lock.Name] = lock.FencingToken
	}
	ttl := time.Duration(wholeSeconds(asked)) * time.Second
	if grant.TTLSeconds > 0 {
		ttl = time.Duration(grant.TTLSeconds) * time.Second
	}
	// From now on the set's own resource: its renewals and its release.
	path := s.path + "/" + url.PathEscape(grant.SetID)
	held, err := s.client.hold(ctx, path, grant.LockToken, ttl, sent, set.renewed)
	if err != nil {
		return nil, err
	}
	set.Held = held
	return set, nil
}

// SetID is the set's id, as a status read of a member shows it.
func (s *LockSetLease) SetID() string { return s.setID }

// FencingToken is the fencing token of the set's lock name, if it is one.
func (s *LockSetLease) FencingToken(name string) (int64, bool) {
	token, ok := s.tokens[name]
	return token, ok
}

// FencingTokens maps every lock of the set to its own fencing token.
func (s *LockSetLease) FencingTokens() map[string]int64 {
	tokens := make(map[string]int64, len(s.tokens))
	for name, token := range s.tokens {
		tokens[name] = token
	}
	return tokens
}

// ExpiresAt is the expiry the server gave at the last acquire or renewal.
func (s *LockSetLease) ExpiresAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiresAt
}

func (s *LockSetLease) renewed(a *answer) error {
	expiresAt, err := renewedExpiry(a)
	if err != nil {
		return err
	}
	s.expiresAt = expiresAt
	return nil
}

// String names the set, never its lock token.
func (s *LockSetLease) String() string { return "leasehold.LockSetLease(" + s.setID + ")" }
