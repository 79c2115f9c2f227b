package telemetry

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
)

func resourceAttr(t *testing.T, tel *Telemetry, key string) (string, bool) {
	t.Helper()
	v, ok := tel.resource.Set().Value(attribute.Key(key))
	return v.AsString(), ok
}

// TestResourceIdentity: every process has its own service.instance.id (a
// random UUID unless one is configured), service.namespace appears when
// configured and wins over a resource attribute of the same key, and
// service.version is the configured build version.
func TestResourceIdentity(t *testing.T) {
	a, _, _ := newRecorded(t, Config{ServiceVersion: "v1.2.3"})
	b, _, _ := newRecorded(t, Config{})
	idA, okA := resourceAttr(t, a, "service.instance.id")
	idB, _ := resourceAttr(t, b, "service.instance.id")
	if !okA || idA == idB {
		t.Errorf("service.instance.id %q and %q: want one per process", idA, idB)
	}
	if u, err := uuid.Parse(idA); err != nil || u.Version() != 4 {
		t.Errorf("service.instance.id %q is not a random UUID: %v", idA, err)
	}
	if a.Config().ServiceInstanceID != idA {
		t.Errorf("Config().ServiceInstanceID = %q, the resource says %q", a.Config().ServiceInstanceID, idA)
	}
	if v, _ := resourceAttr(t, a, "service.version"); v != "v1.2.3" {
		t.Errorf("service.version = %q", v)
	}
	if _, ok := resourceAttr(t, a, "service.namespace"); ok {
		t.Error("service.namespace set though none is configured")
	}

	c, _, _ := newRecorded(t, Config{
		ServiceNamespace:   "identity",
		ResourceAttributes: map[string]string{"service.instance.id": "pod-7f9c", "service.namespace": "other"},
	})
	if v, _ := resourceAttr(t, c, "service.instance.id"); v != "pod-7f9c" {
		t.Errorf("configured service.instance.id: got %q", v)
	}
	if v, _ := resourceAttr(t, c, "service.namespace"); v != "identity" {
		t.Errorf("service.namespace = %q, want the setting's", v)
	}

	off, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if off.Config().ServiceInstanceID != "" {
		t.Error("disabled telemetry drew an instance id")
	}
}
