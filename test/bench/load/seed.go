package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/agentauri/apikeys/adapters/argon2id"
	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/adapters/pepper"
	"github.com/agentauri/apikeys/adapters/verifycache"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/core/audit"
	"github.com/agentauri/apikeys/core/keys"
	"github.com/agentauri/apikeys/ports"
)

// benchScopes are the scopes of every benchmark key; verification asks for
// the first.
var benchScopes = []string{"triggers:read", "events:read"}

// seedParams are the Argon2id parameters of keys seeded in bulk: the
// package minimum, so that 100,000 keys can be made and then verified for
// the first time within the run. Verification in the server uses the
// parameters recorded in each hash, through its own (default) hasher.
var seedParams = argon2id.Params{Memory: argon2id.MinMemory, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// batch is a number of keys to make in one organization.
type batch struct {
	org string
	n   int
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// noUsage refuses usage events: seeding never verifies a key.
type noUsage struct{}

func (noUsage) Record(context.Context, audit.Event) error {
	return errors.New("seeding records no usage")
}

// seedKeys creates keys through the service's own use case (keys.Service
// Create on the gormstore store), with the cheap seedParams hasher, while
// the server is stopped. It returns the secrets in batch order.
func seedKeys(ctx context.Context, driver, dsn, pep string, batches []batch) ([]string, error) {
	store, err := gormstore.Open(ctx, gormstore.Config{Driver: driver, DSN: dsn, MaxOpenConns: 8, MaxIdleConns: 8})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return nil, err
	}
	hasher, err := argon2id.New(seedParams, 0)
	if err != nil {
		return nil, err
	}
	dig, err := pepper.New([]byte(pep))
	if err != nil {
		return nil, err
	}
	cache, err := verifycache.New(16, 0)
	if err != nil {
		return nil, err
	}
	defer cache.Close()
	svc, err := keys.New(keys.Deps{Store: store, Usage: noUsage{}, Hasher: hasher, Digester: dig, Cache: cache,
		Clock: systemClock{}, Entropy: rand.Reader})
	if err != nil {
		return nil, err
	}
	type job struct {
		i   int
		org string
	}
	total := 0
	for _, b := range batches {
		total += b.n
	}
	secrets := make([]string, total)
	jobs := make(chan job)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range 8 {
		wg.Go(func() {
			for j := range jobs {
				p := apikey.Principal{Subject: "bench-seeder", Organizations: []string{j.org}}
				iss, err := svc.Create(ctx, p, ports.CreateInput{
					Name: fmt.Sprintf("bulk %d", j.i), OrganizationID: j.org, Scopes: benchScopes,
				})
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					continue
				}
				secrets[j.i] = iss.Secret
			}
		})
	}
	i := 0
feed:
	for _, b := range batches {
		for range b.n {
			select {
			case jobs <- job{i: i, org: b.org}:
				i++
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("seed keys: %w", firstErr)
	}
	return secrets, ctx.Err()
}

// issued is a key made over HTTP.
type issued struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// createOverHTTP makes n keys in org through POST /api/v1/api-keys with
// the server's configured hasher, workers at a time, and returns them
// with the attack's outcome (the management figures).
func createOverHTTP(base, token, org string, n, workers int) ([]issued, outcome, error) {
	reqs := make([]vegeta.Target, n)
	for i := range reqs {
		body, _ := json.Marshal(map[string]any{
			"name": fmt.Sprintf("bench key %d", i), "organization_id": org, "scopes": benchScopes,
		})
		reqs[i] = jsonTarget("POST", base+"/api/v1/api-keys", token, body)
	}
	return collect(reqs, workers, 201)
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
			decodeErr = fmt.Errorf("decode issued key: %v", err)
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
