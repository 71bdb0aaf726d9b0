package leasehold

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Event is one audit event as a watch delivers it: its Kind ("acquired",
// "renewed", "released", "expired", "verified", ...), its Cursor (resume
// after it) and the event as /v1/audit shows it.
type Event struct {
	Kind   string
	Cursor string
	Data   map[string]any
}

// silence is how long a stream may send nothing: keep-alive comments come
// every 15 s by default, so a longer silence is a dead connection.
const silence = 45 * time.Second

// Watch calls handle with the lock's audit events as they commit, from now
// or after the cursor after, until ctx ends (it then returns ctx.Err()) or
// handle returns an error (returned as it is). A dropped or silent
// connection, or a 503, is resumed after the last event handled; a refusal
// (401, 404, ...) is returned as a *Error.
func (l *Lock) Watch(ctx context.Context, after string, handle func(Event) error) error {
	return l.client.watch(ctx, l.path+"/events", after, handle)
}

// WatchNamespace is Watch for every lock and semaphore of a namespace.
func (c *Client) WatchNamespace(ctx context.Context, namespace, after string, handle func(Event) error) error {
	return c.watch(ctx, "/v1/namespaces/"+url.PathEscape(namespace)+"/events", after, handle)
}

func (c *Client) watch(ctx context.Context, path, after string, handle func(Event) error) error {
	pauses := newBackoff(100*time.Millisecond, 5*time.Second)
	for {
		err := c.stream(ctx, path, &after, handle)
		var e *Error
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &e) && e.Status != http.StatusServiceUnavailable && e.Status != http.StatusTooManyRequests:
			return err
		case errors.Is(err, errHandler):
			return errors.Unwrap(err)
		}
		if !sleep(ctx, pauses.next()) {
			return ctx.Err()
		}
	}
}

// errHandler wraps an error of the caller's handler, to tell it apart.
var errHandler = errors.New("leasehold: the handler stopped the watch")

type handlerError struct{ err error }

func (h handlerError) Error() string   { return h.err.Error() }
func (h handlerError) Unwrap() error   { return h.err }
func (h handlerError) Is(t error) bool { return t == errHandler }

// stream reads one connection's events, moving *after along.
func (c *Client) stream(ctx context.Context, path string, after *string, handle func(Event) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "text/event-stream")
	if *after != "" {
		req.Header.Set("Last-Event-ID", *after)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return errorFrom(resp.StatusCode, retryAfter(resp.Header), body)
	}
	watchdog := time.AfterFunc(silence, cancel)
	defer watchdog.Stop()
	lines := bufio.NewReader(resp.Body)
	fields, data := map[string]string{}, []string{}
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			return err
		}
		watchdog.Reset(silence)
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, ":"): // a keep-alive comment
		case line != "":
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			if name == "data" {
				data = append(data, value)
			} else {
				fields[name] = value
			}
		case len(data) > 0 && fields["id"] != "":
			event := Event{Kind: fields["event"], Cursor: fields["id"]}
			if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &event.Data); err != nil {
				return err
			}
			if err := handle(event); err != nil {
				return handlerError{err}
			}
			*after = event.Cursor
			fields, data = map[string]string{}, nil
		default:
			fields, data = map[string]string{}, nil
		}
	}
}
