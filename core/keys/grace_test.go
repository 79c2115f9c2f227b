package keys

import (
	"testing"
	"time"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/ports"
)

// TestRotationGracePeriod: during a grace period both secrets verify, the
// old one marked previous (in its facts and its key.used event) with its
// end; afterwards only the new one does, the old one being refused as
// rotated, attributed, without an Argon2id; on this instance and on one
// that never saw the rotation.
func TestRotationGracePeriod(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read")
	other := f.elsewhere(t)
	rot, err := f.svc.Rotate(ctx, alice, iss.Key.ID, ports.RotateInput{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	end := f.clock.Now().UTC().Truncate(time.Microsecond).Add(time.Hour)
	if rot.Key.PreviousExpiresAt == nil || !rot.Key.PreviousExpiresAt.Equal(end) || rot.Key.PreviousHint != iss.Key.Hint {
		t.Fatalf("rotated key's previous secret: %q until %v", rot.Key.PreviousHint, rot.Key.PreviousExpiresAt)
	}
	for name, svc := range map[string]*Service{"this instance": f.svc, "another instance": other} {
		v, err := svc.Verify(ctx, ports.VerifyInput{Secret: iss.Secret})
		if err != nil || v.Outcome != apikey.OutcomeOK || !v.Key.Previous() || v.Key.SecretExpiresAt == nil || !v.Key.SecretExpiresAt.Equal(end) {
			t.Fatalf("%s, old secret in the grace period: %v %v %+v", name, v.Outcome, err, v.Key)
		}
		if err := svc.Record(ctx, v, 200); err != nil {
			t.Fatal(err)
		}
		v, err = svc.Verify(ctx, ports.VerifyInput{Secret: rot.Secret})
		if err != nil || v.Outcome != apikey.OutcomeOK || v.Key.Previous() {
			t.Fatalf("%s, new secret: %v %v", name, v.Outcome, err)
		}
	}
	used := f.usage.all()
	ev := used[0]
	if ev.Action != audit.ActionKeyUsed || ev.Details["secret"] != "previous" || ev.KeyID != iss.Key.ID {
		t.Errorf("use of the previous secret: %+v", ev)
	}
	// Argon2id ran only on the other instance, once per secret; this one primed both.
	if n := f.hasher.verifies.Load(); n != 2 {
		t.Errorf("%d Argon2id, want 2 (the other instance proving each secret once)", n)
	}

	f.clock.Advance(time.Hour)
	before := f.hasher.verifies.Load()
	fresh := f.elsewhere(t)
	for name, svc := range map[string]*Service{"this instance": f.svc, "another instance": other, "a fresh instance": fresh} {
		v, err := svc.Verify(ctx, ports.VerifyInput{Secret: iss.Secret})
		if err != nil || v.Outcome != apikey.OutcomeRotated || v.Key.KeyID != iss.Key.ID {
			t.Errorf("%s, old secret after the grace period: %v %v", name, v.Outcome, err)
		}
		if v, err := svc.Verify(ctx, ports.VerifyInput{Secret: rot.Secret}); err != nil || v.Outcome != apikey.OutcomeOK {
			t.Errorf("%s, new secret after the grace period: %v %v", name, v.Outcome, err)
		}
	}
	if n := f.hasher.verifies.Load() - before; n != 1 {
		t.Errorf("%d Argon2id after the grace period, want 1 (the fresh instance's new secret)", n)
	}
}

// TestSecondRotationEndsTheGracePeriod: at most two secrets live.
func TestSecondRotationEndsTheGracePeriod(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read")
	r1, err := f.svc.Rotate(ctx, alice, iss.Key.ID, ports.RotateInput{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := f.svc.Rotate(ctx, alice, iss.Key.ID, ports.RotateInput{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for secret, want := range map[string]apikey.Outcome{iss.Secret: apikey.OutcomeRotated, r1.Secret: apikey.OutcomeOK, r2.Secret: apikey.OutcomeOK} {
		if v, err := f.verify(secret, "", audit.Request{}); err != nil || v.Outcome != want {
			t.Errorf("%s…: %v %v, want %s", secret[:12], v.Outcome, err, want)
		}
	}
	if _, err := f.svc.Rotate(ctx, alice, iss.Key.ID, ports.RotateInput{}); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{iss.Secret, r1.Secret, r2.Secret} {
		if v, _ := f.verify(secret, "", audit.Request{}); v.Outcome != apikey.OutcomeRotated {
			t.Errorf("after a rotation without grace: %v", v.Outcome)
		}
	}
}

// TestRevocationEndsBothSecrets and refuses every secret the key ever had
// as revoked, attributed.
func TestRevocationEndsBothSecrets(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read")
	rot, err := f.svc.Rotate(ctx, alice, iss.Key.ID, ports.RotateInput{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Revoke(ctx, alice, iss.Key.ID, audit.Request{}); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{iss.Secret, rot.Secret} {
		if v, err := f.verify(secret, "", audit.Request{}); err != nil || v.Outcome != apikey.OutcomeRevoked || v.Key.KeyID != iss.Key.ID {
			t.Errorf("after revocation: %v %v", v.Outcome, err)
		}
	}
}

func TestRotationGraceLimits(t *testing.T) {
	f := newFixture(t)
	iss := f.create(t, alice, "triggers:read")
	for _, g := range []time.Duration{-time.Second, MaxRotationGrace + time.Second} {
		_, err := f.svc.Rotate(ctx, alice, iss.Key.ID, ports.RotateInput{Grace: g})
		if field, code := fieldCode(err); field != "grace_period" || code != "invalid_grace_period" {
			t.Errorf("grace %s: %v", g, err)
		}
	}
	if _, err := f.svc.Rotate(ctx, alice, iss.Key.ID, ports.RotateInput{Grace: MaxRotationGrace}); err != nil {
		t.Errorf("grace of 7 days: %v", err)
	}
}
