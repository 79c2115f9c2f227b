package telemetry

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// Span names of the key operations.
const (
	SpanVerify = "apikey.verify"
	SpanCreate = "apikey.create"
	SpanList   = "apikey.list"
	SpanGet    = "apikey.get"
	SpanRotate = "apikey.rotate"
	SpanRevoke = "apikey.revoke"
	SpanUpdate = "apikey.update"
)

// KeyService wraps next with spans (apikey.verify, apikey.create, ...) and
// the verification and management metrics. It returns next itself when
// telemetry is disabled.
func (t *Telemetry) KeyService(next ports.KeyService) ports.KeyService {
	if !t.Enabled() {
		return next
	}
	return &keyService{next: next, t: t}
}

type keyService struct {
	next ports.KeyService
	t    *Telemetry
}

func (s *keyService) start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return s.t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
}

// Verify traces and measures one verification: the apikey.verify span
// carries its outcome, whether the cache answered, the key it identified
// and the id of the usage event that records it.
func (s *keyService) Verify(ctx context.Context, in ports.VerifyInput) (ports.Verification, error) {
	start := time.Now()
	var attrs []attribute.KeyValue
	// The scopes come from the query string: they are recorded only when
	// every one is a valid scope name, never whatever else a caller put
	// there.
	if sc := validScopes(in.Scopes); sc != "" {
		attrs = append(attrs, AttrScopeRequired.String(sc))
	}
	ctx, span := s.start(ctx, SpanVerify, attrs...)
	defer span.End()

	v, err := s.next.Verify(ctx, in)

	out := string(v.Outcome)
	var ve *apikey.ValidationError
	switch {
	case errors.As(err, &ve):
		out = OutcomeInvalidRequest
	case err != nil:
		out = string(apikey.OutcomeError)
	}
	env := string(v.Key.Environment)
	if env == "" {
		env = environmentOf(in.Secret)
	}
	if span.IsRecording() {
		span.SetAttributes(AttrOutcome.String(out), AttrCacheHit.Bool(v.CacheHit), AttrEnvironment.String(env))
		if v.Key.KeyID != "" {
			span.SetAttributes(AttrKeyID.String(v.Key.KeyID), AttrOrganizationID.String(v.Key.OrganizationID))
		}
		if !v.Key.RateLimit.IsZero() {
			span.SetAttributes(AttrRateLimited.Bool(v.Outcome == apikey.OutcomeRateLimited))
		}
		if err == nil {
			span.SetAttributes(AttrAuditEventID.String(v.Event.ID))
		} else {
			endWithError(span, err)
		}
	}
	if s.t.metricsOn {
		in := s.t.inst
		if s.t.cfg.MetricsOrgLabel && v.Key.OrganizationID != "" && v.Outcome == apikey.OutcomeOK {
			in.verifications.Add(ctx, 1, metric.WithAttributes(
				AttrOutcome.String(out), AttrEnvironment.String(env), AttrOrganizationID.String(v.Key.OrganizationID)))
		} else {
			in.verifications.Add(ctx, 1, s.t.attrs.get(out, env, ""))
		}
		hit := "false"
		if v.CacheHit {
			hit = "true"
		}
		in.verifyDuration.Record(ctx, durationSeconds(time.Since(start)), s.t.attrs.get(out, "", hit))
	}
	return v, err
}

// Record hands the verification's event to the audit trail; a refusal
// (the queue full) is marked on the request's span.
func (s *keyService) Record(ctx context.Context, v ports.Verification, status int) error {
	err := s.next.Record(ctx, v, status)
	endWithError(trace.SpanFromContext(ctx), err)
	return err
}

// operation runs one management operation in a span named name, counts
// it as op and, when it succeeds, tags the span with tag(result).
func operation[T any](s *keyService, ctx context.Context, op, name string, p apikey.Principal, attrs []attribute.KeyValue,
	run func(context.Context) (T, error), tag func(T) []attribute.KeyValue) (T, error) {
	attrs = append(attrs, AttrActor.String(actor(p)))
	ctx, span := s.start(ctx, name, attrs...)
	defer span.End()
	out, err := run(ctx)
	if err == nil && tag != nil && span.IsRecording() {
		span.SetAttributes(tag(out)...)
	}
	endWithError(span, err)
	if s.t.metricsOn {
		counted := []attribute.KeyValue{AttrOperation.String(op)}
		if err != nil {
			counted = append(counted, attribute.String("error.type", errorType(err)))
		}
		s.t.inst.keyOps.Add(ctx, 1, metric.WithAttributes(counted...))
	}
	return out, err
}

// actor names the caller like audit events do, but only with ids that
// have a safe shape.
func actor(p apikey.Principal) string {
	if p.IsKey() {
		if id := safeKeyID(p.KeyID); id != "" {
			return "key:" + id
		}
		return "key"
	}
	return p.Actor()
}

func keyAttrs(k apikey.Key) []attribute.KeyValue {
	return []attribute.KeyValue{
		AttrKeyID.String(k.ID), AttrOrganizationID.String(k.OrganizationID), AttrEnvironment.String(string(k.Environment)),
	}
}

func issuedAttrs(iss ports.Issued) []attribute.KeyValue { return keyAttrs(iss.Key) }

// Create traces the creation of a key.
func (s *keyService) Create(ctx context.Context, p apikey.Principal, in ports.CreateInput) (ports.Issued, error) {
	return operation(s, ctx, "create", SpanCreate, p, nil, func(ctx context.Context) (ports.Issued, error) {
		return s.next.Create(ctx, p, in)
	}, issuedAttrs)
}

// List traces a listing of keys.
func (s *keyService) List(ctx context.Context, p apikey.Principal, in ports.ListInput) (ports.KeyPage, error) {
	return operation(s, ctx, "list", SpanList, p, nil, func(ctx context.Context) (ports.KeyPage, error) {
		return s.next.List(ctx, p, in)
	}, func(page ports.KeyPage) []attribute.KeyValue {
		attrs := []attribute.KeyValue{AttrListCount.Int(len(page.Keys))}
		if in.OrganizationID != "" {
			attrs = append(attrs, AttrOrganizationID.String(in.OrganizationID)) // checked by the core
		}
		return attrs
	})
}

// Get traces the reading of one key.
func (s *keyService) Get(ctx context.Context, p apikey.Principal, id string) (apikey.Key, error) {
	return operation(s, ctx, "get", SpanGet, p, idAttrs(id), func(ctx context.Context) (apikey.Key, error) {
		return s.next.Get(ctx, p, id)
	}, keyAttrs)
}

// Rotate traces the rotation of a key.
func (s *keyService) Rotate(ctx context.Context, p apikey.Principal, id string, in ports.RotateInput) (ports.Issued, error) {
	return operation(s, ctx, "rotate", SpanRotate, p, idAttrs(id), func(ctx context.Context) (ports.Issued, error) {
		return s.next.Rotate(ctx, p, id, in)
	}, issuedAttrs)
}

// Revoke traces the revocation of a key.
func (s *keyService) Revoke(ctx context.Context, p apikey.Principal, id string, req audit.Request) (apikey.Key, error) {
	return operation(s, ctx, "revoke", SpanRevoke, p, idAttrs(id), func(ctx context.Context) (apikey.Key, error) {
		return s.next.Revoke(ctx, p, id, req)
	}, keyAttrs)
}

// Update traces the update of a key.
func (s *keyService) Update(ctx context.Context, p apikey.Principal, id string, in ports.UpdateInput) (apikey.Key, error) {
	return operation(s, ctx, "update", SpanUpdate, p, idAttrs(id), func(ctx context.Context) (apikey.Key, error) {
		return s.next.Update(ctx, p, id, in)
	}, keyAttrs)
}

// idAttrs records a requested key id, if it has the shape of one.
func idAttrs(id string) []attribute.KeyValue {
	if id = safeKeyID(id); id == "" {
		return nil
	}
	return []attribute.KeyValue{AttrKeyID.String(id)}
}

// KeyStore wraps next so that the span of a management operation carries
// the id of the audit event the store committed with the change. The
// database spans themselves come from the GORM callbacks.
func (t *Telemetry) KeyStore(next ports.KeyStore) ports.KeyStore {
	if !t.Enabled() {
		return next
	}
	return &keyStore{KeyStore: next}
}

type keyStore struct {
	ports.KeyStore
}

// committed tags ctx's span with ev when err is nil, and passes both on.
func committed[T any](ctx context.Context, ev audit.Event, out T, err error) (T, error) {
	if err == nil {
		tagEvent(ctx, ev)
	}
	return out, err
}

// CreateKey stores the key and tags the current span with its audit event.
func (s *keyStore) CreateKey(ctx context.Context, k apikey.Key, ev audit.Event) error {
	_, err := committed(ctx, ev, struct{}{}, s.KeyStore.CreateKey(ctx, k, ev))
	return err
}

// RotateKey rotates the key and tags the current span with its audit event.
func (s *keyStore) RotateKey(ctx context.Context, r ports.Rotation, ev audit.Event) (apikey.Key, error) {
	k, err := s.KeyStore.RotateKey(ctx, r, ev)
	return committed(ctx, ev, k, err)
}

// RevokeKey revokes the key and tags the current span with its audit event.
func (s *keyStore) RevokeKey(ctx context.Context, id string, at time.Time, ev audit.Event) (apikey.Key, error) {
	k, err := s.KeyStore.RevokeKey(ctx, id, at, ev)
	return committed(ctx, ev, k, err)
}

// UpdateKey updates the key and tags the current span with the audit event
// of the change, when one was stored.
func (s *keyStore) UpdateKey(ctx context.Context, id string, change ports.KeyChanger) (apikey.Key, error) {
	var ev audit.Event
	k, err := s.KeyStore.UpdateKey(ctx, id, func(cur apikey.Key) (apikey.Key, audit.Event, error) {
		next, e, err := change(cur)
		ev = e
		return next, e, err
	})
	return committed(ctx, ev, k, err)
}

// tagEvent puts ev's id (and the key it concerns) on ctx's span.
func tagEvent(ctx context.Context, ev audit.Event) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{AttrAuditEventID.String(ev.ID)}
	if ev.KeyID != "" {
		attrs = append(attrs, AttrKeyID.String(ev.KeyID))
	}
	if ev.OrganizationID != "" {
		attrs = append(attrs, AttrOrganizationID.String(ev.OrganizationID))
	}
	span.SetAttributes(attrs...)
}

// attrSets caches the attribute sets of the verification metrics: their
// values come from small fixed vocabularies, and building a set for every
// measurement would cost more than the measurement.
type attrSets struct {
	m sync.Map // attrSetKey -> metric.MeasurementOption
}

type attrSetKey struct{ outcome, env, hit string }

// get returns the set {apikey.outcome, and apikey.environment or
// apikey.cache_hit, whichever is not ""}.
func (a *attrSets) get(outcome, env, hit string) metric.MeasurementOption {
	k := attrSetKey{outcome, env, hit}
	if o, ok := a.m.Load(k); ok {
		return o.(metric.MeasurementOption)
	}
	kvs := []attribute.KeyValue{AttrOutcome.String(outcome)}
	if env != "" {
		kvs = append(kvs, AttrEnvironment.String(env))
	}
	if hit != "" {
		kvs = append(kvs, AttrCacheHit.Bool(hit == "true"))
	}
	o, _ := a.m.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(kvs...)))
	return o.(metric.MeasurementOption)
}

// validScopes returns names comma-separated, or "" when there are none or
// one of them is not a scope name.
func validScopes(names []string) string {
	for _, n := range names {
		if _, err := apikey.ParseScope(n); err != nil {
			return ""
		}
	}
	return strings.Join(names, ",")
}
