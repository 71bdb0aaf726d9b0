package leasehold

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Writer names whom a resource checks: the writer's lock token, or (when it
// has none to show) its fencing token. Set exactly one.
type Writer struct {
	LockToken    string
	FencingToken int64
}

// Verified is the live lease a writer holds, as a verification found it.
type Verified struct {
	FencingToken int64     `json:"fencing_token"`
	ExpiresAt    time.Time `json:"expires_at"`
	Owner        string    `json:"owner"`
}

// Verify is for a resource: it checks that w holds the lock's live lease,
// and returns it; a lease that is not live is a *Error matching
// ErrLeaseLost, with its Reason. A non-empty note (up to 1 KiB) is recorded
// in the lock's audit trail with the check, as a "verified" event.
func (l *Lock) Verify(ctx context.Context, w Writer, note string) (*Verified, error) {
	if (w.LockToken == "") == (w.FencingToken == 0) {
		return nil, errors.New("leasehold: Verify takes a lock token or a fencing token, one of them")
	}
	body := map[string]any{}
	if w.FencingToken != 0 {
		body["fencing_token"] = w.FencingToken
	}
	if note != "" {
		body["note"] = note
	}
	check := &call{method: http.MethodPost, path: l.path + "/verify", lockToken: w.LockToken, body: body}
	a, err := l.client.send(ctx, check)
	if err != nil {
		return nil, err
	}
	var found Verified
	if err := a.decode(&found); err != nil {
		return nil, err
	}
	return &found, nil
}
