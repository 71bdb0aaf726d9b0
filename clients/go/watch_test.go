package leasehold_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	leasehold "github.com/leasehold/leasehold/clients/go"
)

var errEnough = errors.New("enough events")

// firstCursor is the cursor just after the lock's first audit event.
func firstCursor(t *testing.T, name string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, server.url+"/v1/locks/"+name+"/history?order=asc&limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+server.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return page.NextCursor
}

// collect watches lock from after until n events came, calling between
// after the events before it, if given.
func collect(t *testing.T, lock *leasehold.Lock, after string, n int, between func(seen int)) []leasehold.Event {
	t.Helper()
	var events []leasehold.Event
	err := lock.Watch(testContext(t), after, func(e leasehold.Event) error {
		events = append(events, e)
		if between != nil {
			between(len(events))
		}
		if len(events) == n {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("the watch ended with %v after %d events", err, len(events))
	}
	return events
}

func TestWatchYieldsALocksEventsLiveAndResumesAfterACursor(t *testing.T) {
	ctx := testContext(t)
	name := lockName(t, "watched")
	lock := newClient(t, leasehold.Options{}).Lock(name)
	lease := acquire(t, lock, leasehold.LockOptions{TTL: 30 * time.Second})
	if _, err := lock.Renew(ctx, lease.LockToken(), 0); err != nil {
		t.Fatal(err)
	}
	release(t, lease)

	var again *leasehold.Lease
	events := collect(t, lock, firstCursor(t, name), 3, func(seen int) {
		if seen == 2 { // caught up: what comes next is live
			again = acquire(t, lock, leasehold.LockOptions{TTL: 30 * time.Second})
		}
	})
	defer release(t, again)
	resumed := collect(t, lock, events[0].Cursor, 1, nil)

	kinds := fmt.Sprint(events[0].Kind, events[1].Kind, events[2].Kind)
	if kinds != "renewedreleasedacquired" {
		t.Fatalf("kinds %s", kinds)
	}
	if events[2].Data["fencing_token"] != float64(again.FencingToken()) {
		t.Fatalf("live event %+v for lease %d", events[2], again.FencingToken())
	}
	if resumed[0].Kind != "released" || resumed[0].Cursor != events[1].Cursor {
		t.Fatalf("resumed with %+v, want the release %s", resumed[0], events[1].Cursor)
	}
}

func TestWatchingAnotherTenantsNamespaceIsRefused(t *testing.T) {
	err := newClient(t, leasehold.Options{}).WatchNamespace(testContext(t), "someone-else", "", func(leasehold.Event) error { return nil })
	if !errors.Is(err, leasehold.ErrNamespaceNotFound) {
		t.Fatalf("want ErrNamespaceNotFound, got %v", err)
	}
}
