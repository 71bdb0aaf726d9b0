package leasehold

import (
	"errors"
	"strings"
	"time"
)

// Codes the server sends in its errors, and the two this client adds when
// there is no usable answer (CodeUnreachable, CodeUnexpectedResponse).
const (
	CodeLockHeld            = "lock_held"
	CodeSemaphoreFull       = "semaphore_full"
	CodeLimitMismatch       = "limit_mismatch"
	CodeLeaseLost           = "lease_lost"
	CodeLockNotHeld         = "lock_not_held"
	CodeNamespaceNotFound   = "namespace_not_found"
	CodeUnauthorized        = "unauthorized"
	CodeForbidden           = "forbidden"
	CodePlanForbids         = "plan_forbids"
	CodeQuotaExceeded       = "quota_exceeded"
	CodeRateLimited         = "rate_limited"
	CodeDatabaseUnavailable = "database_unavailable"
	CodeUnreachable         = "unreachable"
	CodeUnexpectedResponse  = "unexpected_response"
)

// Why a lease was lost, in Error.Reason: the server's reasons, "unspecified"
// when it gave none, and ReasonRenewalsFailed when this client judged it.
const (
	ReasonExpired        = "expired"
	ReasonReleased       = "released"
	ReasonSuperseded     = "superseded"
	ReasonUnknownToken   = "unknown_token"
	ReasonUnspecified    = "unspecified"
	ReasonRenewalsFailed = "renewals_failed"
)

// Sentinels to test an error against with errors.Is: an *Error matches the
// one its Code (or Status) stands for.
var (
	ErrLockHeld          = errors.New("leasehold: the lock is held")
	ErrSemaphoreFull     = errors.New("leasehold: the semaphore is full")
	ErrLimitMismatch     = errors.New("leasehold: the semaphore is held under another limit")
	ErrLeaseLost         = errors.New("leasehold: the lease is lost")
	ErrNotHeld           = errors.New("leasehold: the lock is not held")
	ErrNamespaceNotFound = errors.New("leasehold: no such namespace")
	ErrUnauthorized      = errors.New("leasehold: the API key was refused")
	ErrForbidden         = errors.New("leasehold: forbidden")
	ErrInvalidRequest    = errors.New("leasehold: invalid request")
	ErrUnavailable       = errors.New("leasehold: the server is unavailable")
	ErrUnreachable       = errors.New("leasehold: the server is unreachable")
)

// ErrReleased is the cause of a held lease's context once this process has
// released it or handed it over: the lease ended on purpose.
var ErrReleased = errors.New("leasehold: the lease was released")

// Error is every failure the server reports, and the client's own verdicts
// (no answer on any attempt, a lease judged lost). Fields the answer did not
// carry are zero.
type Error struct {
	Status     int           // the HTTP status; 0 when there was no answer
	Code       string        // the server's code, e.g. "lock_held", or CodeUnreachable
	Message    string        // the server's message
	RetryAfter time.Duration // from Retry-After, when the server sent one
	Reason     string        // why a lease was lost (lease_lost), e.g. ReasonSuperseded
	Lock       *LeaseInfo    // lock_held: the lease holding the lock, when the server shows it
	Waiters    int           // lock_held: earlier waiters the lock is promised to
	Held       []string      // lock_held of a lock set: its members that are held
	Limit      int           // semaphore_full, limit_mismatch: the live limit
	Holders    int           // semaphore_full: its live holders
	Err        error         // the underlying failure (no answer), if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("leasehold: ")
	b.WriteString(e.Code)
	if e.Reason != "" {
		b.WriteString(" (" + e.Reason + ")")
	}
	if len(e.Held) > 0 {
		b.WriteString(" [" + strings.Join(e.Held, ", ") + "]")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrLockHeld) and the other sentinels work.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrLockHeld:
		return e.Code == CodeLockHeld
	case ErrSemaphoreFull:
		return e.Code == CodeSemaphoreFull
	case ErrLimitMismatch:
		return e.Code == CodeLimitMismatch
	case ErrLeaseLost:
		return e.Code == CodeLeaseLost
	case ErrNotHeld:
		return e.Code == CodeLockNotHeld
	case ErrNamespaceNotFound:
		return e.Code == CodeNamespaceNotFound
	case ErrUnauthorized:
		return e.Status == 401
	case ErrForbidden:
		return e.Status == 403
	case ErrInvalidRequest:
		return e.Status == 400 || e.Status == 413 || e.Status == 422
	case ErrUnavailable:
		return e.Status == 503 || e.Status == 429
	case ErrUnreachable:
		return e.Code == CodeUnreachable
	}
	return false
}

// IsTransient reports whether err says the outcome is unknown (the server
// was unreachable or unavailable on every attempt), so trying again may help.
func IsTransient(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnreachable)
}

// lost is the error of a lease lost for reason.
func lost(reason string) *Error {
	return &Error{Code: CodeLeaseLost, Reason: reason, Message: "the lease is lost"}
}
