package leasehold

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

const userAgent = "leasehold-go/0.1"

// call is one request, as the retry loop sends it again and again.
type call struct {
	method         string
	path           string
	query          url.Values
	lockToken      string
	body           any
	idempotencyKey string        // set on every mutating call, kept across retries
	extraTimeout   time.Duration // time the server may legitimately take (a waiting acquire)
}

// mutating is a call that changes state: it carries a fresh Idempotency-Key.
func mutating(method, path string) *call {
	return &call{method: method, path: path, idempotencyKey: newIdempotencyKey()}
}

// answer is an HTTP answer other than 503 and 429.
type answer struct {
	status     int
	body       []byte
	retryAfter time.Duration
	sent       time.Time // when the call's first attempt was sent (monotonic)
	retried    bool      // whether an earlier attempt may have reached the server
}

func (a *answer) ok() bool { return a.status >= 200 && a.status < 300 }

// decode reads a success's body into v; any other answer is its *Error.
func (a *answer) decode(v any) error {
	if !a.ok() {
		return errorFrom(a.status, a.retryAfter, a.body)
	}
	if err := json.Unmarshal(a.body, v); err != nil {
		return &Error{Status: a.status, Code: CodeUnexpectedResponse, Message: "unreadable body: " + err.Error(), Err: err}
	}
	return nil
}

// send sends c, retrying connection errors, timeouts, 503 and 429 with
// backoff (honouring Retry-After) under one Idempotency-Key, for up to the
// client's RetryFor. It stops early when ctx ends.
func (cl *Client) send(ctx context.Context, c *call) (*answer, error) {
	payload, err := c.payload()
	if err != nil {
		return nil, err
	}
	// A retry may be answered with an earlier attempt's outcome, so a lease
	// it grants or renews counts from the first attempt.
	sent := time.Now()
	giveUp := sent.Add(cl.retryFor)
	pauses := newBackoff(100*time.Millisecond, 2*time.Second)
	retried := false
	for {
		a, resent, err := cl.attempt(ctx, c, payload)
		retried = retried || resent
		var failure *Error
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, ctx.Err() // the caller gave up (an answer that did arrive counts)
		case err != nil:
			failure = &Error{Code: CodeUnreachable, Message: err.Error(), Err: err}
		case a.status == http.StatusServiceUnavailable || a.status == http.StatusTooManyRequests:
			failure = errorFrom(a.status, a.retryAfter, a.body)
		default:
			a.sent, a.retried = sent, retried
			return a, nil
		}
		pause := pauses.next()
		if failure.RetryAfter > pause {
			pause = failure.RetryAfter
		}
		if time.Now().Add(pause).After(giveUp) {
			return nil, failure
		}
		if !sleep(ctx, pause) {
			return nil, ctx.Err()
		}
		retried = true
	}
}

// attempt sends c once. resent says the transport itself wrote the request
// more than once (it retries a request with an Idempotency-Key on a reused
// connection that failed), so an earlier write may have reached the server.
func (cl *Client) attempt(ctx context.Context, c *call, payload []byte) (a *answer, resent bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, cl.requestTimeout+c.extraTimeout)
	defer cancel()
	var writes int32
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { atomic.AddInt32(&writes, 1) },
	})
	req, err := cl.request(ctx, c, payload)
	if err != nil {
		return nil, false, err
	}
	resp, err := cl.http.Do(req)
	resent = atomic.LoadInt32(&writes) > 1
	if err != nil {
		return nil, resent, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, resent, err
	}
	return &answer{status: resp.StatusCode, body: body, retryAfter: retryAfter(resp.Header)}, resent, nil
}

func (cl *Client) request(ctx context.Context, c *call, payload []byte) (*http.Request, error) {
	target := cl.base + c.path
	if len(c.query) > 0 {
		target += "?" + c.query.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, target, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+cl.apiKey)
	req.Header.Set("User-Agent", userAgent)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.lockToken != "" {
		req.Header.Set("Lock-Token", c.lockToken)
	}
	if c.idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", c.idempotencyKey)
	}
	return req, nil
}

func (c *call) payload() ([]byte, error) {
	if c.body == nil {
		return nil, nil
	}
	payload, err := json.Marshal(c.body)
	if err != nil {
		return nil, fmt.Errorf("leasehold: encoding the request: %w", err)
	}
	return payload, nil
}

// retryAfter reads Retry-After in seconds or as an HTTP date; 0 if absent.
func retryAfter(h http.Header) time.Duration {
	value := h.Get("Retry-After")
	if value == "" {
		return 0
	}
	if seconds, err := strconv.Atoi(value); err == nil && seconds > 0 {
		return time.Duration(seconds) * time.Second
	}
	if at, err := http.ParseTime(value); err == nil && time.Until(at) > 0 {
		return time.Until(at)
	}
	return 0
}
