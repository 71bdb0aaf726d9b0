package leasehold

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/rand"
	"sync"
	"time"
)

// backoff is the pauses of one retry loop: each about twice the last, up to
// the longest, each scaled by a random factor in [0.5, 1.0] so that
// retrying clients do not move in step.
type backoff struct {
	nominal time.Duration
	longest time.Duration
}

func newBackoff(first, longest time.Duration) *backoff {
	if longest < first {
		longest = first
	}
	return &backoff{nominal: first, longest: longest}
}

func (b *backoff) next() time.Duration {
	pause := jitter(b.nominal)
	b.nominal *= 2
	if b.nominal > b.longest {
		b.nominal = b.longest
	}
	return pause
}

var random = struct {
	sync.Mutex
	*rand.Rand
}{Rand: rand.New(rand.NewSource(seed()))}

func seed() int64 {
	var b [8]byte
	if _, err := crand.Read(b[:]); err != nil {
		return time.Now().UnixNano()
	}
	return int64(binary.LittleEndian.Uint64(b[:]))
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	random.Lock()
	defer random.Unlock()
	return d/2 + time.Duration(random.Int63n(int64(d/2)+1))
}

// sleep waits for d, or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// newIdempotencyKey is a random (version 4) UUID.
func newIdempotencyKey() string {
	var b [16]byte
	if _, err := crand.Read(b[:]); err != nil {
		random.Lock()
		random.Read(b[:])
		random.Unlock()
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
