package app

import (
	"context"
	"sync"
	"time"
)

// every runs fn every interval in a goroutine of its own until the
// returned closer is called, which cancels fn's context and waits for a
// run under way to end.
func every(interval time.Duration, fn func(ctx context.Context)) (stop func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn(ctx)
			}
		}
	})
	return func(context.Context) error {
		cancel()
		wg.Wait()
		return nil
	}
}
