package leasehold

import (
	"encoding/json"
	"time"
)

// errorBody is `{"error": {"code", "message", "reason"?}}` with what a
// conflict adds: the holder's "lock", "waiters", a semaphore's "limit" and
// "holders", a lock set's "held" members.
type errorBody struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	} `json:"error"`
	Lock    *LeaseInfo `json:"lock"`
	Waiters int        `json:"waiters"`
	Limit   int        `json:"limit"`
	Holders int        `json:"holders"`
	Held    []string   `json:"held"`
}

// errorFrom is the *Error a non-success answer stands for.
func errorFrom(status int, retryAfter time.Duration, body []byte) *Error {
	var parsed errorBody
	if err := json.Unmarshal(body, &parsed); err != nil || parsed.Error == nil || parsed.Error.Code == "" {
		return &Error{Status: status, Code: CodeUnexpectedResponse, Message: excerpt(body), RetryAfter: retryAfter}
	}
	e := &Error{
		Status:     status,
		Code:       parsed.Error.Code,
		Message:    parsed.Error.Message,
		RetryAfter: retryAfter,
		Lock:       parsed.Lock,
		Waiters:    parsed.Waiters,
		Limit:      parsed.Limit,
		Holders:    parsed.Holders,
		Held:       parsed.Held,
	}
	if e.Code == CodeLeaseLost {
		e.Reason = parsed.Error.Reason
		if e.Reason == "" {
			e.Reason = ReasonUnspecified
		}
	}
	if e.Lock != nil && e.Waiters == 0 {
		e.Waiters = e.Lock.Waiters
	}
	return e
}

// excerpt is the start of a body that is not an error of the API, for a message.
func excerpt(body []byte) string {
	const most = 200
	if len(body) > most {
		return string(body[:most]) + "..."
	}
	return string(body)
}
