package httpapi

import (
	"context"
	"time"
)

// tarpit holds the answers to an address that keeps failing to
// authenticate (429 too_many_failed_attempts) for a while before they are
// sent. A client that sends its next request when the last one is
// answered, as scripts and load tools do, then gets one answer per delay
// per connection instead of as many as the cores can make, and the cores
// stay with everyone else. A held answer costs a parked goroutine and its
// connection, nothing else (no database connection, no lock); at most max
// are held at once, past which answers are sent at once, so a client
// opening many connections cannot make the holding itself a cost.
type tarpit struct {
	delay time.Duration
	slots chan struct{} // nil: off
}

func newTarpit(delay time.Duration, maxHeld int) tarpit {
	if delay <= 0 || maxHeld <= 0 {
		return tarpit{}
	}
	return tarpit{delay: delay, slots: make(chan struct{}, maxHeld)}
}

// hold waits for the delay, unless it is off, every slot is taken or ctx
// (the request) ends first.
func (t tarpit) hold(ctx context.Context) {
	if t.slots == nil {
		return
	}
	select {
	case t.slots <- struct{}{}:
	default:
		return
	}
	defer func() { <-t.slots }()
	timer := time.NewTimer(t.delay)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}
