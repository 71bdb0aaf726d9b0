package leasehold

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestANameCannotChangeTheRoute(t *testing.T) {
	c := &Client{}
	namespaced := c.WithNamespace("a b")

	if got := c.resource("locks", "a/renew"); got != "/v1/locks/a%2Frenew" {
		t.Fatal(got)
	}
	if got := c.resource("locks", "jobs:nightly@host-1.x_y"); got != "/v1/locks/jobs:nightly@host-1.x_y" {
		t.Fatal(got)
	}
	if got := namespaced.collection("lock-sets"); got != "/v1/namespaces/a%20b/lock-sets" {
		t.Fatal(got)
	}
}

func TestTTLsRoundUpToWholeSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{1500 * time.Millisecond: 2, 30 * time.Second: 30, time.Nanosecond: 1} {
		if got := wholeSeconds(d); got != want {
			t.Errorf("%v: %d, want %d", d, got, want)
		}
	}
}

func TestPausesDoubleUpToTheLongestWithJitter(t *testing.T) {
	pauses := newBackoff(100*time.Millisecond, 400*time.Millisecond)
	for _, nominal := range []time.Duration{100, 200, 400, 400, 400} {
		nominal *= time.Millisecond
		if pause := pauses.next(); pause < nominal/2 || pause > nominal {
			t.Fatalf("%v for %v", pause, nominal)
		}
	}
}

func TestIdempotencyKeysAreFreshUUIDs(t *testing.T) {
	a, b := newIdempotencyKey(), newIdempotencyKey()

	if a == b || len(a) != 36 || a[14] != '4' || strings.Count(a, "-") != 4 {
		t.Fatalf("%q, %q", a, b)
	}
}

func TestSecretsStayOutOfPrintedValues(t *testing.T) {
	client, err := New(Options{URL: "http://127.0.0.1:1", APIKey: "lh_id_secret"})
	if err != nil {
		t.Fatal(err)
	}
	grant := Grant{LeaseInfo: LeaseInfo{Name: "n"}, LockToken: "the-token"}

	printed := fmt.Sprintf("%v %+v %#v %v %+v", client, client, client, grant, &grant)

	if strings.Contains(printed, "secret") || strings.Contains(printed, "the-token") {
		t.Fatalf("printed a secret: %s", printed)
	}
}
