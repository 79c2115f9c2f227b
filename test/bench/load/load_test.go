package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/test/bench/ceiling"
)

// TestAttackSmoke drives the ceiling handler for a moment through the
// same vegeta wiring the benchmarks use.
func TestAttackSmoke(t *testing.T) {
	srv := httptest.NewServer(ceiling.Handler())
	defer srv.Close()
	url := srv.URL + "/api/v1/auth/verify"

	o := attack(load{workers: 4, dur: 200 * time.Millisecond, want: 200, target: cycle(url, []string{"a", "b"}, false)})
	if o.OK == 0 || o.Bad != 0 || o.Requests != o.OK || o.Rate <= 0 || o.P50 <= 0 || o.P99 < o.P50 {
		t.Fatalf("timed attack: %+v", o)
	}

	// Once: each secret exactly once, then the attack ends by itself.
	var mu sync.Mutex
	seen := map[string]int{}
	secrets := []string{"k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	o = attack(load{workers: 3, want: 200, target: cycle(url, secrets, true), onResult: func(r *vegeta.Result) {
		mu.Lock()
		defer mu.Unlock()
		seen[r.URL]++
	}})
	if o.Requests != uint64(len(secrets)) || o.OK != uint64(len(secrets)) || seen[url] != len(secrets) {
		t.Fatalf("once over %d secrets: %+v, seen %v", len(secrets), o, seen)
	}

	// A request without a key gets the ceiling's 401: counted as bad.
	o = attack(load{workers: 1, dur: 50 * time.Millisecond, want: 200, target: repeat(vegeta.Target{Method: "GET", URL: url, Header: http.Header{}})})
	if o.OK != 0 || o.Bad == 0 || len(o.Errors) == 0 {
		t.Fatalf("unwanted status not counted: %+v", o)
	}
}

func TestHostileKeys(t *testing.T) {
	bad, err := badChecksums(50)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range bad {
		if _, err := apikey.Parse(s); !errors.Is(err, apikey.ErrChecksum) {
			t.Fatalf("%q: Parse = %v, want ErrChecksum", s, err)
		}
	}
	var tgt vegeta.Target
	tr := randomKeys("http://x/verify")()
	keys := map[string]bool{}
	for range 50 {
		if err := tr(&tgt); err != nil {
			t.Fatal(err)
		}
		k := tgt.Header.Get("X-API-Key")
		if _, err := apikey.Parse(k); err != nil || keys[k] {
			t.Fatalf("random key %q: Parse = %v, repeated %v", k, err, keys[k])
		}
		keys[k] = true
	}
}

// TestReportVerdicts renders a report and checks that each target gets the
// verdict its figures call for.
func TestReportVerdicts(t *testing.T) {
	ceil := scenario{Name: "ceiling (before)", Out: outcome{Requests: 1000, OK: 1000, Rate: 10000, P50: time.Millisecond, P99: 4 * time.Millisecond},
		ServerCPU: 25 * time.Millisecond, DriverCPU: 35 * time.Millisecond} // 60 µs a request
	// A second ceiling run, slower: the ratios use the mean.
	ceil2 := ceil
	ceil2.Name = "ceiling (after)"
	ceil2.Out.Rate, ceil2.Out.P99 = 8000, 6*time.Millisecond
	rep := &report{
		Started: time.Now(), Plan: fullPlan(), Machine: machineInfo{Cores: 2, CPU: "test", Go: "go"}, HashTime: 30 * time.Millisecond,
		Databases: []*dbRun{{
			Driver: "sqlite", Ceilings: []scenario{ceil, ceil2},
			Scenarios: []scenario{
				{Name: "verify", HasCounters: true, Out: outcome{Requests: 700, OK: 700, Rate: 6300, P99: 6 * time.Millisecond},
					ServerCPU: 49 * time.Millisecond, DriverCPU: 21 * time.Millisecond}, // 100 µs a request
				{Name: "bad checksum", HasCounters: true, Out: outcome{Requests: 500, OK: 500, Rate: 4500}},
				{Name: "unknown key", HasCounters: true, Out: outcome{Requests: 400, OK: 400, Rate: 3600},
					Counters: counters{Reads: 400, KeyReads: 400}},
			},
		}},
	}
	md := rep.markdown()
	for _, want := range []string{
		"| Verification (SQLite) ≥ 0.6× ceiling req/s | 6300 vs 9000 req/s = **0.70×** (CPU-normalized 0.60×) | met |",
		"| Verification (SQLite) p99 ≤ 2× ceiling p99 | 6.00 ms vs 5.00 ms = **1.20×** | met |",
		"0.50× (CPU-normalized 0.00×), 0 Argon2id, 0 key reads for 500 requests",
		"**not met**", // bad checksum at 0.5×
		"| Unknown key ≥ 0.3× ceiling, 0 Argon2id, ≤ 1 indexed read each | 0.40× (CPU-normalized 0.00×), 0 Argon2id, 400 reads for 400 requests | met |",
		"| ceiling (before) | 1000 | 10000 | 1.11 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
}
