package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"github.com/agentauri/apikeys/ports"
)

// Span names of the hasher.
const (
	SpanArgon2Hash   = "argon2id.hash"
	SpanArgon2Verify = "argon2id.verify"
)

// Hasher wraps next with argon2id.hash and argon2id.verify (Compare) spans. The
// secret and the encoded hash never reach the span. Durations and pool
// waits are measured by the HashObserver, inside the pool.
func (t *Telemetry) Hasher(next ports.Hasher) ports.Hasher {
	if !t.Enabled() {
		return next
	}
	return &hasher{next: next, t: t}
}

type hasher struct {
	next ports.Hasher
	t    *Telemetry
}

// Hash traces one Argon2id hash.
func (h *hasher) Hash(ctx context.Context, secret string) (string, error) {
	ctx, span := h.t.tracer.Start(ctx, SpanArgon2Hash, trace.WithSpanKind(trace.SpanKindInternal))
	defer span.End()
	out, err := h.next.Hash(ctx, secret)
	endWithError(span, err)
	return out, err
}

// Compare traces one Argon2id comparison (span argon2id.verify).
func (h *hasher) Compare(ctx context.Context, secret, encoded string) (bool, error) {
	ctx, span := h.t.tracer.Start(ctx, SpanArgon2Verify, trace.WithSpanKind(trace.SpanKindInternal))
	defer span.End()
	ok, err := h.next.Compare(ctx, secret, encoded)
	endWithError(span, err)
	return ok, err
}
