package leasehold_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// fault is what the proxy does to one request.
type fault int

const (
	forward    fault = iota // pass it on and its answer back
	dropAnswer              // pass it on, then hang up instead of answering
	answer503               // answer 503 database_unavailable with Retry-After: 1
	answer429               // answer 429 rate_limited with Retry-After: 1
)

// seenRequest is a request as the proxy received it.
type seenRequest struct {
	method         string
	path           string
	idempotencyKey string
	at             time.Time
}

// faultyProxy stands between a client and the test server, and can lose
// answers, answer 503 or 429 itself, or go dark (hang up on everything).
type faultyProxy struct {
	url       string
	target    *url.URL
	transport *http.Transport

	mu     sync.Mutex
	script []fault // what to do to the next requests, in order; then forward
	dark   bool
	seen   []seenRequest
}

func newFaultyProxy(t *testing.T) *faultyProxy {
	target, err := url.Parse(server.url)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultyProxy{target: target, transport: &http.Transport{}}
	front := httptest.NewServer(p)
	p.url = front.URL
	t.Cleanup(func() {
		p.goDark(false)
		front.Close()
		p.transport.CloseIdleConnections()
	})
	return p
}

// then scripts the next requests' faults.
func (p *faultyProxy) then(faults ...fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.script = append(p.script, faults...)
}

// goDark makes every request from now on fail without reaching the server
// (or, with false, pass again).
func (p *faultyProxy) goDark(dark bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dark = dark
}

// requests are those seen with method, in order.
func (p *faultyProxy) requests(method string) []seenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var matching []seenRequest
	for _, r := range p.seen {
		if r.method == method {
			matching = append(matching, r)
		}
	}
	return matching
}

// pending is how many scripted faults have not happened yet.
func (p *faultyProxy) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.script)
}

func (p *faultyProxy) next(r *http.Request) (fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, seenRequest{r.Method, r.URL.Path, r.Header.Get("Idempotency-Key"), time.Now()})
	if p.dark {
		return forward, true
	}
	f := forward
	if len(p.script) > 0 {
		f, p.script = p.script[0], p.script[1:]
	}
	return f, false
}

func (p *faultyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, dark := p.next(r)
	switch {
	case dark:
		panic(http.ErrAbortHandler) // hang up: the client sees a connection error
	case f == answer503:
		refuse(w, http.StatusServiceUnavailable, "database_unavailable")
	case f == answer429:
		refuse(w, http.StatusTooManyRequests, "rate_limited")
	default:
		p.pass(w, r, f == dropAnswer)
	}
}

func refuse(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"error":{"code":"`+code+`","message":"injected by the test proxy"}}`)
}

func (p *faultyProxy) pass(w http.ResponseWriter, r *http.Request, drop bool) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host, out.Host = p.target.Scheme, p.target.Host, p.target.Host
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || drop {
		panic(http.ErrAbortHandler) // the server acted; its answer is lost
	}
	for name, values := range resp.Header {
		w.Header()[name] = values
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}
