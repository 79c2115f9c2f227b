package otel

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
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
	SpanVerify       = "apikey.verify"
	SpanAuthenticate = "apikey.authenticate"
	SpanCreate       = "apikey.create"
	SpanList         = "apikey.list"
	SpanGet          = "apikey.get"
	SpanRotate       = "apikey.rotate"
	SpanRevoke       = "apikey.revoke"
)

// verifyProbe travels in the context of one verification so that the
// cache decorator can say whether the cache answered it. Each verification
// has its own probe, so concurrent verifications never mix their answers.
type verifyProbe struct {
	state atomic.Int32 // 0: cache not consulted, 1: miss, 2: hit
}

type probeKey struct{}

func probeFrom(ctx context.Context) *verifyProbe {
	p, _ := ctx.Value(probeKey{}).(*verifyProbe)
	return p
}

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

// Verify traces and measures one verification.
func (s *keyService) Verify(ctx context.Context, secret, scope string, req ports.RequestInfo) (apikey.Verified, error) {
	var attrs []attribute.KeyValue
	// The scope comes from the query string: only a valid scope name is
	// recorded, never whatever else a caller put there.
	if sc, err := apikey.ParseScope(scope); err == nil && scope != "" {
		attrs = append(attrs, AttrScopeRequired.String(string(sc)))
	}
	return s.verify(ctx, SpanVerify, secret, attrs, func(ctx context.Context) (apikey.Verified, error) {
		return s.next.Verify(ctx, secret, scope, req)
	})
}

// Authenticate traces and measures one authentication of a secret.
func (s *keyService) Authenticate(ctx context.Context, secret string) (apikey.Verified, error) {
	return s.verify(ctx, SpanAuthenticate, secret, nil, func(ctx context.Context) (apikey.Verified, error) {
		return s.next.Authenticate(ctx, secret)
	})
}

func (s *keyService) verify(ctx context.Context, name, secret string, attrs []attribute.KeyValue, fn func(context.Context) (apikey.Verified, error)) (apikey.Verified, error) {
	start := time.Now()
	probe := &verifyProbe{}
	ctx = context.WithValue(ctx, probeKey{}, probe)
	ctx, span := s.start(ctx, name, attrs...)
	defer span.End()

	v, err := fn(ctx)

	out := outcome(err)
	hit := probe.state.Load() == 2
	env := string(v.Environment)
	if env == "" {
		env = environmentOf(secret)
	}
	if span.IsRecording() {
		span.SetAttributes(AttrOutcome.String(out), AttrCacheHit.Bool(hit), AttrEnvironment.String(env))
		if err == nil {
			span.SetAttributes(AttrKeyID.String(v.KeyID), AttrOrganizationID.String(v.OrganizationID))
		} else if out == apikey.OutcomeError || out == OutcomeInvalidRequest {
			endWithError(span, err)
		}
	}

	if s.t.metricsOn {
		in := s.t.inst
		if s.t.cfg.MetricsOrgLabel && v.OrganizationID != "" {
			in.verifications.Add(ctx, 1, metric.WithAttributes(
				AttrOutcome.String(out), AttrEnvironment.String(env), AttrOrganizationID.String(v.OrganizationID)))
		} else {
			in.verifications.Add(ctx, 1, s.t.attrs.get(out, env, ""))
		}
		in.verifyDuration.Record(ctx, durationSeconds(time.Since(start)), s.t.attrs.get(out, "", strconv.FormatBool(hit)))
	}
	return v, err
}

// manage runs one management operation in a span and counts it.
func (s *keyService) manage(ctx context.Context, op, name string, p apikey.Principal, attrs []attribute.KeyValue, fn func(ctx context.Context, span trace.Span) error) error {
	attrs = append(attrs, AttrActor.String(actor(p)))
	ctx, span := s.start(ctx, name, attrs...)
	defer span.End()
	err := fn(ctx, span)
	endWithError(span, err)
	if s.t.metricsOn {
		counted := []attribute.KeyValue{AttrOperation.String(op)}
		if err != nil {
			counted = append(counted, attribute.String("error.type", errorType(err)))
		}
		s.t.inst.keyOps.Add(ctx, 1, metric.WithAttributes(counted...))
	}
	return err
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

// Create traces the creation of a key.
func (s *keyService) Create(ctx context.Context, p apikey.Principal, in ports.CreateInput) (ports.Issued, error) {
	var out ports.Issued
	err := s.manage(ctx, "create", SpanCreate, p, nil, func(ctx context.Context, span trace.Span) error {
		var err error
		out, err = s.next.Create(ctx, p, in)
		if err == nil {
			span.SetAttributes(keyAttrs(out.Key)...)
		}
		return err
	})
	return out, err
}

// List traces a listing of keys.
func (s *keyService) List(ctx context.Context, p apikey.Principal, in ports.ListInput) (ports.KeyPage, error) {
	var out ports.KeyPage
	err := s.manage(ctx, "list", SpanList, p, nil, func(ctx context.Context, span trace.Span) error {
		var err error
		out, err = s.next.List(ctx, p, in)
		if err == nil {
			span.SetAttributes(AttrListCount.Int(len(out.Keys)))
			if in.OrganizationID != "" {
				span.SetAttributes(AttrOrganizationID.String(in.OrganizationID)) // checked by the core
			}
		}
		return err
	})
	return out, err
}

// Get traces the reading of one key.
func (s *keyService) Get(ctx context.Context, p apikey.Principal, id string) (apikey.Key, error) {
	var out apikey.Key
	err := s.manage(ctx, "get", SpanGet, p, idAttrs(id), func(ctx context.Context, span trace.Span) error {
		var err error
		out, err = s.next.Get(ctx, p, id)
		if err == nil {
			span.SetAttributes(keyAttrs(out)...)
		}
		return err
	})
	return out, err
}

// Rotate traces the rotation of a key.
func (s *keyService) Rotate(ctx context.Context, p apikey.Principal, id string, req ports.RequestInfo) (ports.Issued, error) {
	var out ports.Issued
	err := s.manage(ctx, "rotate", SpanRotate, p, idAttrs(id), func(ctx context.Context, span trace.Span) error {
		var err error
		out, err = s.next.Rotate(ctx, p, id, req)
		if err == nil {
			span.SetAttributes(keyAttrs(out.Key)...)
		}
		return err
	})
	return out, err
}

// Revoke traces the revocation of a key.
func (s *keyService) Revoke(ctx context.Context, p apikey.Principal, id string, req ports.RequestInfo) (apikey.Key, error) {
	var out apikey.Key
	err := s.manage(ctx, "revoke", SpanRevoke, p, idAttrs(id), func(ctx context.Context, span trace.Span) error {
		var err error
		out, err = s.next.Revoke(ctx, p, id, req)
		if err == nil {
			span.SetAttributes(keyAttrs(out)...)
		}
		return err
	})
	return out, err
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

// CreateKey stores the key and tags the current span with its audit event.
func (s *keyStore) CreateKey(ctx context.Context, k apikey.Key, ev audit.Event) error {
	err := s.KeyStore.CreateKey(ctx, k, ev)
	if err == nil {
		tagEvent(ctx, ev)
	}
	return err
}

// RotateKey rotates the key and tags the current span with its audit event.
func (s *keyStore) RotateKey(ctx context.Context, r ports.Rotation, ev audit.Event) (apikey.Key, error) {
	k, err := s.KeyStore.RotateKey(ctx, r, ev)
	if err == nil {
		tagEvent(ctx, ev)
	}
	return k, err
}

// RevokeKey revokes the key and tags the current span with its audit event.
func (s *keyStore) RevokeKey(ctx context.Context, id string, at time.Time, ev audit.Event) (apikey.Key, error) {
	k, err := s.KeyStore.RevokeKey(ctx, id, at, ev)
	if err == nil {
		tagEvent(ctx, ev)
	}
	return k, err
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

// VerifyCache wraps next so that a verification's span can say whether the
// cache answered it (apikey.cache_hit).
func (t *Telemetry) VerifyCache(next ports.VerifyCache) ports.VerifyCache {
	if !t.Enabled() {
		return next
	}
	return &verifyCache{VerifyCache: next}
}

type verifyCache struct {
	ports.VerifyCache
}

// Get looks digest up and notes the answer in the verification's probe.
func (c *verifyCache) Get(ctx context.Context, digest string) (apikey.Verified, bool) {
	v, ok := c.VerifyCache.Get(ctx, digest)
	if p := probeFrom(ctx); p != nil {
		if ok {
			p.state.Store(2)
		} else {
			p.state.Store(1)
		}
	}
	return v, ok
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
