package leasehold

import (
	"context"
	"errors"
	"time"
)

// maxServerWait is the longest wait asked of the server in one request (the
// default plans' limit); a longer wait asks again for the rest.
const maxServerWait = 30 * time.Second

// acquireWithin calls attempt with how long the server may wait this time,
// until it succeeds, fails otherwise, wait has passed, or ctx ends. Only a
// conflict (held, full) is tried again: the server queues waiters fairly
// where the plan allows the wait; otherwise the client polls, guided by
// Retry-After.
func acquireWithin[T any](ctx context.Context, wait time.Duration, attempt func(serverWait time.Duration) (T, error)) (T, error) {
	if wait <= 0 {
		return attempt(0)
	}
	deadline := time.Now().Add(wait)
	poll := 50 * time.Millisecond
	serverWaits := true
	for {
		left := time.Until(deadline)
		ask := time.Duration(0)
		if serverWaits && left > 0 {
			ask = minDuration(left, maxServerWait).Truncate(time.Second)
		}
		got, err := attempt(ask)
		var e *Error
		if !errors.As(err, &e) {
			return got, err
		}
		switch {
		case e.Code == "invalid_wait" && serverWaits:
			serverWaits = false // a plan that allows less waiting: poll instead
		case (e.Code == CodeLockHeld || e.Code == CodeSemaphoreFull) && time.Until(deadline) > 0:
			pause := minDuration(poll, time.Until(deadline))
			if e.RetryAfter > 0 {
				pause = minDuration(pause, e.RetryAfter)
			}
			poll = minDuration(2*poll, time.Second)
			if !sleep(ctx, pause) {
				return got, ctx.Err()
			}
		default:
			return got, err
		}
	}
}

func minDuration(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// wholeSeconds rounds d up to whole seconds, as the API counts them.
func wholeSeconds(d time.Duration) int64 {
	seconds := int64(d / time.Second)
	if d%time.Second > 0 {
		seconds++
	}
	return seconds
}
