package leasehold_test

import (
	"testing"

	leasehold "github.com/leasehold/leasehold/clients/go"
)

func TestNewFromEnvTakesTheURLAndTheKeyFromTheEnvironment(t *testing.T) {
	t.Setenv("LEASEHOLD_URL", server.url+"/")
	t.Setenv("LEASEHOLD_API_KEY", server.key)

	client, err := leasehold.NewFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	lease := acquire(t, client.Lock(lockName(t, "env")), leasehold.LockOptions{}) // the key was taken

	release(t, lease)
	if client.URL() != server.url {
		t.Fatalf("URL %q, want %q", client.URL(), server.url)
	}
}

func TestOptionsWinOverTheEnvironment(t *testing.T) {
	t.Setenv("LEASEHOLD_URL", "http://127.0.0.1:9")
	t.Setenv("LEASEHOLD_API_KEY", "lh_not_a_key")

	client, err := leasehold.New(leasehold.Options{URL: server.url, APIKey: server.key})
	if err != nil {
		t.Fatal(err)
	}

	release(t, acquire(t, client.Lock(lockName(t, "options")), leasehold.LockOptions{}))
}

func TestWithoutAURLTheDefaultIsUsed(t *testing.T) {
	t.Setenv("LEASEHOLD_URL", "")
	t.Setenv("LEASEHOLD_API_KEY", "lh_some_key")

	client, err := leasehold.NewFromEnv()

	if err != nil || client.URL() != leasehold.DefaultURL {
		t.Fatalf("%v, %v", client, err)
	}
}

func TestWithoutAnAPIKeyNewFails(t *testing.T) {
	t.Setenv("LEASEHOLD_URL", server.url)
	t.Setenv("LEASEHOLD_API_KEY", "")

	if client, err := leasehold.NewFromEnv(); err == nil {
		t.Fatalf("made %v without a key", client)
	}
}

func TestAURLThatIsNotHTTPIsRefused(t *testing.T) {
	if client, err := leasehold.New(leasehold.Options{URL: "127.0.0.1:7010", APIKey: "k"}); err == nil {
		t.Fatalf("made %v", client)
	}
}
