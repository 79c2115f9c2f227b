package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/crypto/argon2"
	"gorm.io/gorm"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/adapters/pepper"
	"github.com/agentauri/apikeys/core/apikey"
)

// benchScopes are the scopes of every benchmark key; verification asks for
// the first.
var benchScopes = []string{"triggers:read", "events:read"}

// seedMemoryKiB and seedTime are the Argon2id parameters of keys seeded in
// bulk: Argon2's own minimum (8 KiB for one lane), so that 100,000 keys
// can be made and then each verified for the first time within the run.
// The server verifies every hash with its configured hasher, at the
// parameters the PHC string records; the argon2id adapter refuses to make
// hashes this cheap, so the driver encodes them itself.
const (
	seedMemoryKiB = 8
	seedTime      = 1
)

// batch is a number of keys to make in one organization.
type batch struct {
	org string
	n   int
}

// seedRow is a row of api_keys as the seeding writes it; the columns left
// out keep their defaults (NULL times, version 1).
type seedRow struct {
	ID             string    `gorm:"column:id"`
	OrganizationID string    `gorm:"column:organization_id"`
	Name           string    `gorm:"column:name"`
	Environment    string    `gorm:"column:environment"`
	Scopes         string    `gorm:"column:scopes"`
	Hint           string    `gorm:"column:hint"`
	Hash           string    `gorm:"column:hash"`
	Lookup         string    `gorm:"column:lookup"`
	CreatedAt      time.Time `gorm:"column:created_at"`
	UpdatedAt      time.Time `gorm:"column:updated_at"`
	Version        int64     `gorm:"column:version"`
	CreatedBy      string    `gorm:"column:created_by"`
}

func (seedRow) TableName() string { return "api_keys" }

// seedKeys inserts keys in bulk (transactions of 2,000 rows) through the
// store's GORM handle while the server is stopped, and returns their
// secrets in batch order. Each key is made as the service makes one
// (apikey.Generate, the pepper digest, apikey.Hint, an Argon2id PHC hash)
// except that the hash is cheap; no key.created events are written.
func seedKeys(ctx context.Context, driver, dsn, pep string, batches []batch) ([]string, error) {
	store, err := gormstore.Open(ctx, gormstore.Config{Driver: driver, DSN: dsn, MaxOpenConns: 2})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return nil, err
	}
	dig, err := pepper.New([]byte(pep))
	if err != nil {
		return nil, err
	}
	scopes, _ := json.Marshal(benchScopes)
	perInsert := 500
	if driver == gormstore.DriverSQLite {
		perInsert = 32 // the SQLite driver binds in O(values²)
	}
	var secrets []string
	rows := make([]seedRow, 0, 2000)
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		err := store.DB().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return tx.CreateInBatches(rows, perInsert).Error
		})
		rows = rows[:0]
		return err
	}
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	salt := make([]byte, 16)
	for _, b := range batches {
		for i := range b.n {
			secret, err := apikey.Generate(rand.Reader, apikey.EnvTest)
			if err != nil {
				return nil, err
			}
			id, err := apikey.RandomString(rand.Reader, 16)
			if err != nil {
				return nil, err
			}
			if _, err := rand.Read(salt); err != nil {
				return nil, err
			}
			hash := argon2.IDKey([]byte(secret), salt, seedTime, seedMemoryKiB, 1, 32)
			at = at.Add(time.Microsecond)
			rows = append(rows, seedRow{
				ID: apikey.IDPrefix + id, OrganizationID: b.org, Name: fmt.Sprintf("bulk %d", i), Environment: string(apikey.EnvTest),
				Scopes: string(scopes), Hint: apikey.Hint(secret), Lookup: dig.Digest(secret),
				Hash: fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=1$%s$%s", argon2.Version, seedMemoryKiB, seedTime,
					base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(hash)),
				CreatedAt: at, UpdatedAt: at, Version: 1, CreatedBy: "user:bench-seeder",
			})
			secrets = append(secrets, secret)
			if len(rows) == cap(rows) {
				if err := flush(); err != nil {
					return nil, fmt.Errorf("seed keys: %w", err)
				}
			}
		}
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("seed keys: %w", err)
	}
	// A long-lived store has planner statistics (autovacuum and InnoDB
	// gather them after large changes, within a minute or so); without
	// them, Postgres sorts the whole organization to list its first page.
	// SQLite gathers none unless asked, and the service never asks.
	analyze := map[string]string{gormstore.DriverPostgres: "ANALYZE api_keys", gormstore.DriverMySQL: "ANALYZE TABLE api_keys"}[driver]
	if analyze != "" {
		if err := store.DB().WithContext(ctx).Exec(analyze).Error; err != nil {
			return nil, fmt.Errorf("seed keys: %s: %w", analyze, err)
		}
	}
	return secrets, nil
}

// issued is a key made over HTTP.
type issued struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// createOverHTTP makes n keys in org through POST /api/v1/api-keys with
// the server's configured hasher, workers at a time, and returns them
// with the attack's outcome (the management figures). The members of
// extra are added to each body.
func createOverHTTP(base, token, org string, n, workers int, extra map[string]any) ([]issued, outcome, error) {
	reqs := make([]vegeta.Target, n)
	for i := range reqs {
		req := map[string]any{
			"name": fmt.Sprintf("bench key %d", i), "organization_id": org, "scopes": benchScopes,
		}
		for k, v := range extra {
			req[k] = v
		}
		body, _ := json.Marshal(req)
		reqs[i] = jsonTarget("POST", base+"/api/v1/api-keys", token, body)
	}
	return collect(reqs, workers, 201)
}

// fencedExtra is what the fenced keys add to a plain key: an IP
// allowlist of apikey.MaxIPAllowlist networks whose only match for the
// load generator (127.0.0.1) sorts last, so that every verification scans
// the whole list, and metadata of exactly apikey.MaxMetadataBytes.
func fencedExtra() map[string]any {
	allow := make([]string, 0, apikey.MaxIPAllowlist)
	for i := range apikey.MaxIPAllowlist - 1 {
		allow = append(allow, fmt.Sprintf("10.%d.%d.0/24", i/256, i%256))
	}
	allow = append(allow, "127.0.0.0/8")
	meta := map[string]any{"customer": "cus_0123456789", "plan": "enterprise"}
	enc, _ := json.Marshal(meta)
	meta["pad"] = strings.Repeat("x", apikey.MaxMetadataBytes-len(enc)-len(`,"pad":""`))
	return map[string]any{"ip_allowlist": allow, "metadata": meta}
}

// rotateOverHTTP rotates each key once through POST .../{id}/rotate.
func rotateOverHTTP(base, token string, ids []string, workers int) ([]issued, outcome, error) {
	reqs := make([]vegeta.Target, len(ids))
	for i, id := range ids {
		reqs[i] = jsonTarget("POST", base+"/api/v1/api-keys/"+id+"/rotate", token, nil)
	}
	return collect(reqs, workers, 200)
}

func collect(reqs []vegeta.Target, workers, want int) ([]issued, outcome, error) {
	var out []issued
	var decodeErr error
	o := attack(load{workers: workers, want: want, target: requests(reqs), onResult: func(r *vegeta.Result) {
		if int(r.Code) != want {
			return
		}
		var k issued
		if err := json.Unmarshal(r.Body, &k); err != nil || k.Key == "" {
			decodeErr = fmt.Errorf("decode issued key: %w", err)
			return
		}
		out = append(out, k)
	}})
	if decodeErr != nil {
		return nil, o, decodeErr
	}
	if len(out) != len(reqs) {
		return out, o, fmt.Errorf("%d of %d requests failed: %v", len(reqs)-len(out), len(reqs), o.Errors)
	}
	return out, o, nil
}
