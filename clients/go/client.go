package leasehold

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultURL is the server used when neither Options.URL nor LEASEHOLD_URL names one.
const DefaultURL = "http://127.0.0.1:7010"

// Options configure a Client. Every field may be left zero.
type Options struct {
	// URL is the server's base URL; default $LEASEHOLD_URL, else DefaultURL.
	URL string
	// APIKey authenticates every request; default $LEASEHOLD_API_KEY. Required.
	APIKey string
	// Namespace holds the locks; default the API key's own namespace.
	Namespace string
	// RequestTimeout bounds one attempt of a request, answer included
	// (default 10 s). A waiting acquire adds its wait.
	RequestTimeout time.Duration
	// RetryFor is how long a request that failed transiently (connection
	// error, timeout, 503, 429) is retried before giving up (default 10 s;
	// negative: never retried).
	RetryFor time.Duration
	// HTTPClient sends the requests (default: one on http.DefaultTransport).
	HTTPClient *http.Client
}

// Client is a Leasehold server and the API key to use with it. It is safe
// for concurrent use.
type Client struct {
	base           string
	apiKey         string
	namespace      string
	requestTimeout time.Duration
	retryFor       time.Duration
	http           *http.Client
}

// New makes a client; the URL and the API key default to LEASEHOLD_URL and
// LEASEHOLD_API_KEY from the environment.
func New(opts Options) (*Client, error) {
	base := strings.TrimRight(firstSet(opts.URL, os.Getenv("LEASEHOLD_URL"), DefaultURL), "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("leasehold: the server URL must be http:// or https://, not %q", base)
	}
	key := firstSet(opts.APIKey, os.Getenv("LEASEHOLD_API_KEY"))
	if key == "" {
		return nil, errors.New("leasehold: no API key: set Options.APIKey or LEASEHOLD_API_KEY")
	}
	if strings.ContainsAny(key, "\r\n\t ") {
		return nil, errors.New("leasehold: the API key contains white space")
	}
	c := &Client{
		base:           base,
		apiKey:         key,
		namespace:      opts.Namespace,
		requestTimeout: orDefault(opts.RequestTimeout, 10*time.Second),
		retryFor:       orDefault(opts.RetryFor, 10*time.Second),
		http:           opts.HTTPClient,
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	return c, nil
}

// NewFromEnv makes a client from LEASEHOLD_URL and LEASEHOLD_API_KEY alone.
func NewFromEnv() (*Client, error) { return New(Options{}) }

// WithNamespace is a client like c whose locks are in namespace.
func (c *Client) WithNamespace(namespace string) *Client {
	copied := *c
	copied.namespace = namespace
	return &copied
}

// URL is the server's base URL.
func (c *Client) URL() string { return c.base }

// String names the server, never the API key.
func (c *Client) String() string { return "leasehold.Client(" + c.base + ")" }

// GoString keeps the API key out of %#v too.
func (c *Client) GoString() string { return c.String() }

// Lock is the lock called name, exclusive or shared, to acquire, read,
// renew or release.
func (c *Client) Lock(name string) *Lock {
	return &Lock{client: c, name: name, path: c.resource("locks", name)}
}

// Semaphore is the semaphore called name, admitting up to limit holders at
// once (1 to 10,000; every holder must ask with the same limit).
func (c *Client) Semaphore(name string, limit int) *Semaphore {
	return &Semaphore{client: c, name: name, limit: limit, path: c.resource("semaphores", name)}
}

// LockSet is the locks names (2 to 64), to acquire all together or not at all.
func (c *Client) LockSet(names ...string) *LockSet {
	return &LockSet{client: c, names: append([]string(nil), names...), path: c.collection("lock-sets")}
}

// collection is /v1/{kind}, or /v1/namespaces/{namespace}/{kind}.
func (c *Client) collection(kind string) string {
	if c.namespace == "" {
		return "/v1/" + kind
	}
	return "/v1/namespaces/" + url.PathEscape(c.namespace) + "/" + kind
}

// resource is a named thing of a collection; the name is escaped, so it can
// never change the route (a name "a/renew" is one segment).
func (c *Client) resource(kind, name string) string {
	return c.collection(kind) + "/" + url.PathEscape(name)
}

func firstSet(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func orDefault(d, fallback time.Duration) time.Duration {
	if d == 0 {
		return fallback
	}
	return d
}
