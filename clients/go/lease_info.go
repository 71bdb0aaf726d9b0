package leasehold

import (
	"encoding/json"
	"time"
)

// Lock modes, in LeaseInfo.Mode and LockHolders.Mode.
const (
	ModeExclusive = "exclusive"
	ModeShared    = "shared"
)

// LeaseInfo is a lock's lease as the server describes it (never its lock
// token). Times are the server's; Owner and Metadata are hidden from other
// accounts in the shared namespace.
type LeaseInfo struct {
	Namespace    string          `json:"namespace"`
	Name         string          `json:"name"`
	FencingToken int64           `json:"fencing_token"`
	Owner        string          `json:"owner"`
	AcquiredAt   time.Time       `json:"acquired_at"`
	ExpiresAt    time.Time       `json:"expires_at"`
	TTLSeconds   int             `json:"ttl_seconds"`
	Metadata     json.RawMessage `json:"metadata"`
	Mode         string          `json:"mode"`
	Waiters      int             `json:"waiters"` // in a status read: how many wait for the lock
	Holders      []Holder        `json:"holders"` // in a status read of a shared lock: every reader
	SetID        string          `json:"set_id"`  // in a status read: the lock set it belongs to
}

// Holder is one holder's lease, as a status read shows it.
type Holder struct {
	FencingToken int64     `json:"fencing_token"`
	Owner        string    `json:"owner"`
	AcquiredAt   time.Time `json:"acquired_at"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// LockHolders is a lock's mode and every holder's lease: a shared lock may
// have many, an exclusive one has one.
type LockHolders struct {
	Mode    string
	Holders []Holder
}

// Grant is a lease just granted, with the lock token that proves holding
// it: what a handover returns, to pass to whoever takes the lease up (with
// Lock.Adopt). Keep the token secret: it is shown only once.
type Grant struct {
	LeaseInfo
	LockToken string `json:"lock_token"`
}

func (g Grant) String() string { return "Grant(" + g.Name + ", lock token hidden)" }

func holdersOf(info *LeaseInfo) *LockHolders {
	mode := info.Mode
	if mode == "" {
		mode = ModeExclusive
	}
	if info.Holders != nil {
		return &LockHolders{Mode: mode, Holders: info.Holders}
	}
	one := Holder{FencingToken: info.FencingToken, Owner: info.Owner, AcquiredAt: info.AcquiredAt, ExpiresAt: info.ExpiresAt}
	return &LockHolders{Mode: mode, Holders: []Holder{one}}
}
