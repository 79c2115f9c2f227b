package app

import (
	"strings"
	"testing"
	"time"

	"github.com/agentauri/apikeys/test/dbtest"
)

func TestAuditRetentionSettings(t *testing.T) {
	cfg, err := Load("", []string{"APIKEYS_AUDIT_RETENTION=2160h", "APIKEYS_AUDIT_PURGE_INTERVAL=30m"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Audit.Retention != 2160*time.Hour || cfg.Audit.PurgeInterval != 30*time.Minute {
		t.Errorf("retention %s, purge interval %s", cfg.Audit.Retention, cfg.Audit.PurgeInterval)
	}
	def := Defaults()
	if def.Audit.Retention != 0 || def.Audit.PurgeInterval != time.Hour {
		t.Errorf("defaults: retention %s (want 0: forever), purge interval %s", def.Audit.Retention, def.Audit.PurgeInterval)
	}
	for _, env := range []string{"APIKEYS_AUDIT_RETENTION=-1h", "APIKEYS_AUDIT_PURGE_INTERVAL=-1s"} {
		key := strings.ToLower(strings.TrimPrefix(strings.SplitN(env, "=", 2)[0], "APIKEYS_AUDIT_"))
		if _, err := Load("", []string{env}); err == nil || !strings.Contains(err.Error(), "audit."+key) {
			t.Errorf("%s: %v, want an error naming audit.%s", env, err, key)
		}
	}
}

func TestPurgeCutoff(t *testing.T) {
	st := dbtest.Open(t, "sqlite")
	al, err := newAuditLog(AuditConfig{ChainKey: dbtest.ChainKey}, st)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	if _, err := purgeCutoff(al, cfg, "", 0); err == nil || !strings.Contains(err.Error(), "audit.retention is 0") {
		t.Errorf("no retention: %v", err)
	}
	cfg.Audit.Retention = 48 * time.Hour
	got, err := purgeCutoff(al, cfg, "", 0)
	if err != nil || time.Since(got) < 48*time.Hour-time.Minute || time.Since(got) > 48*time.Hour+time.Minute {
		t.Errorf("from audit.retention: %v, %v", got, err)
	}
	got, err = purgeCutoff(al, cfg, "", time.Hour)
	if err != nil || time.Since(got) > time.Hour+time.Minute {
		t.Errorf("--older-than wins: %v, %v", got, err)
	}
	got, err = purgeCutoff(al, cfg, "2025-01-31T00:00:00Z", 0)
	if err != nil || !got.Equal(time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("--before: %v, %v", got, err)
	}
	for _, bad := range []struct {
		before string
		older  time.Duration
	}{{"yesterday", 0}, {"2025-01-31T00:00:00Z", time.Hour}, {"", -time.Hour}} {
		if _, err := purgeCutoff(al, cfg, bad.before, bad.older); err == nil {
			t.Errorf("--before %q --older-than %s accepted", bad.before, bad.older)
		}
	}
}
