package httpapi

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestTarpitHolds(t *testing.T) {
	const delay = 50 * time.Millisecond
	tp := newTarpit(delay, 2)
	start := time.Now()
	tp.hold(context.Background())
	if took := time.Since(start); took < delay {
		t.Fatalf("hold returned after %s, want at least %s", took, delay)
	}
	if len(tp.slots) != 0 {
		t.Fatalf("%d slots still taken after the hold", len(tp.slots))
	}
}

func TestTarpitOff(t *testing.T) {
	for _, tp := range []tarpit{newTarpit(0, 10), newTarpit(time.Hour, 0)} {
		done := make(chan struct{})
		go func() { tp.hold(context.Background()); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("a tarpit that is off held an answer: %+v", tp)
		}
	}
}

// TestTarpitBounded: with every slot taken, the next answer goes at once,
// and a request that ends releases its slot.
func TestTarpitBounded(t *testing.T) {
	tp := newTarpit(time.Hour, 2)
	ctx, cancel := context.WithCancel(context.Background())
	var held sync.WaitGroup
	for range 2 {
		held.Go(func() { tp.hold(ctx) })
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(tp.slots) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the two holds did not take their slots")
		}
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	go func() { tp.hold(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a third answer was held with both slots taken")
	}
	cancel()
	held.Wait()
	if len(tp.slots) != 0 {
		t.Fatalf("%d slots still taken after the requests ended", len(tp.slots))
	}
}
