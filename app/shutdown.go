package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// closers is the composition root's shutdown list: each component that
// starts registers how to stop it, once, and they stop in reverse order of
// start, so that nothing outlives what it depends on (the HTTP server
// stops before the audit queue it feeds, the queue flushes before the
// database closes, telemetry flushes last).
type closers struct {
	list []closer
	log  *slog.Logger
}

type closer struct {
	name string
	fn   func(context.Context) error
}

// add registers fn, named for the log, to run at close.
func (c *closers) add(name string, fn func(context.Context) error) {
	c.list = append(c.list, closer{name: name, fn: fn})
}

// close runs every registered closer in reverse order of registration,
// even after one fails, and returns their errors joined; it empties the
// list, so a second call does nothing.
func (c *closers) close(ctx context.Context) error {
	var errs []error
	for i := len(c.list) - 1; i >= 0; i-- {
		cl := c.list[i]
		if err := cl.fn(ctx); err != nil {
			if c.log != nil {
				c.log.Error("shutdown", slog.String("component", cl.name), slog.String("error", err.Error()))
			}
			errs = append(errs, fmt.Errorf("%s: %w", cl.name, err))
		}
	}
	c.list = nil
	return errors.Join(errs...)
}
