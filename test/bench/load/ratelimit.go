package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/core/apikey"
	"github.com/agentauri/apikeys/test/redistest"
)

// The rate-limit scenarios (SQLite): the cost of a per-key limit with the
// budgets in memory and in Redis, and what a flood of bad keys from one
// address does to everyone else.

// Addresses the rate-limit scenarios' clients claim through
// X-Forwarded-For (the servers trust 127.0.0.1 as a proxy): legitimate
// clients are spread over 203.0.113.0/24, the flood comes from one
// address of 198.51.100.0/24 (both documentation ranges).
const floodAddr = "198.51.100.66"

// unthrottledEnv turns the abuse limits off for the scenarios that
// measure the cost of failures themselves and for the bulk set-up: the
// throttling would answer 429 to the failure scenarios after 100 requests
// and to the set-up's creates after 20.
var unthrottledEnv = []string{"APIKEYS_SECURITY_FAILED_AUTH_LIMIT=0", "APIKEYS_SECURITY_MANAGEMENT_LIMIT_RATE=0"}

// rateLimitRun holds the rate-limit scenarios of one database.
type rateLimitRun struct {
	// Unlimited and Limited alternate on one server with in-memory
	// budgets: keys without a limit, then keys with one.
	Unlimited, Limited []scenario
	Redis              *scenario // limited keys, budgets in Redis
	RedisErr           string    // why the Redis scenario did not run
	Flooded            *scenario // the legitimate clients while one address floods
	Flood              outcome   // the flood's own requests during Flooded (want 429)
	FloodAlone         outcome   // the flood with nobody else, for the database growth
	FloodStatuses      map[int]uint64
	GrowthBytes        int64  // how much the database files grew over FloodAlone
	LongHeaders        int    // bytes of X-Original-Uri plus User-Agent each flood request carries
	FloodEvents        uint64 // audit events stored over FloodAlone
	FloodWorkers       int    // clients of the flooding address
	Err                string
}

// mean returns the mean rate and p99 of runs, and their CPU totals.
func mean(runs []scenario) scenario {
	var m scenario
	if len(runs) == 0 {
		return m
	}
	n := float64(len(runs))
	var p50, p99 float64
	for _, s := range runs {
		m.Out.Rate += s.Out.Rate / n
		p50 += float64(s.Out.P50) / n
		p99 += float64(s.Out.P99) / n
		m.Out.Requests += s.Out.Requests
		m.Out.Bad += s.Out.Bad
		m.ServerCPU += s.ServerCPU
		m.DriverCPU += s.DriverCPU
	}
	m.Out.P50, m.Out.P99 = time.Duration(p50), time.Duration(p99)
	return m
}

// rateLimitScenarios runs the rate-limit scenarios on db with servers of
// their own: default abuse limits, 127.0.0.1 trusted as a proxy.
func (r *runner) rateLimitScenarios(d *dbRun, db *database, dataDir string) error {
	rl := &rateLimitRun{FloodStatuses: map[int]uint64{}}
	d.RateLimits = rl
	env := []string{"APIKEYS_HTTP_TRUSTED_PROXIES=127.0.0.1/32", "APIKEYS_SECURITY_MANAGEMENT_LIMIT_RATE=0"}
	srv, err := r.startServerEnv(db, dataDir, "ratelimit", env)
	if err != nil {
		return err
	}
	defer func() { srv.stop() }()
	token, err := mintToken()
	if err != nil {
		return err
	}
	workers := 2
	r.log("rate limits: create %d keys without a limit and %d with one", r.plan.Hot, r.plan.Hot)
	unlimited, _, err := createKeys(srv.base, token, benchOrg, r.plan.Hot, workers, nil)
	if err != nil {
		return fmt.Errorf("create unlimited keys: %w", err)
	}
	// The largest limit a key may have, so that the budget is spent and
	// checked on every request but never runs out.
	limit := map[string]any{"limit": apikey.MaxRateLimit, "window": "1s"}
	limited, _, err := createKeys(srv.base, token, benchOrg, r.plan.Hot, workers, map[string]any{"rate_limit": limit})
	if err != nil {
		return fmt.Errorf("create limited keys: %w", err)
	}
	verifyURL := srv.base + "/api/v1/auth/verify?scope=" + url.QueryEscape(benchScopes[0])
	clients := legitClients(r.plan.Workers)
	plain := load{workers: r.plan.Workers, dur: r.plan.Duration, want: 200, target: cycleFrom(verifyURL, secretsOf(unlimited), clients, nil)}
	withLimit := load{workers: r.plan.Workers, dur: r.plan.Duration, want: 200, target: cycleFrom(verifyURL, secretsOf(limited), clients, nil)}
	for _, l := range []load{plain, withLimit} {
		first := l
		first.dur, first.target = 0, firstN(l.target, uint64(r.plan.Hot))
		if o := attack(first); o.Bad > 0 {
			return fmt.Errorf("first verification of the rate-limit keys: %d failed: %v", o.Bad, o.Errors)
		}
	}
	// Alternate, so that both see the same machine.
	for i := range 2 {
		r.log("verify, keys without a limit (run %d)", i+1)
		sc, err := r.measure(srv, "verify (no limit)", "", plain, true)
		if err != nil {
			return err
		}
		rl.Unlimited = append(rl.Unlimited, sc)
		r.log("verify, keys with a limit, budgets in memory (run %d)", i+1)
		if sc, err = r.measure(srv, "verify (limit, memory)", "", withLimit, true); err != nil {
			return err
		}
		rl.Limited = append(rl.Limited, sc)
	}

	// The flood: one address sending random well-formed keys as fast as
	// its clients go, with the long caller-chosen headers of the report
	// that grew the audit trail by 4.7 KB a request.
	flood, size := floodLoad(verifyURL, r.plan.Workers)
	rl.LongHeaders, rl.FloodWorkers = size, r.plan.Workers
	r.log("flood: %d clients of %s with unknown keys, while %d clients verify", r.plan.Workers, floodAddr, r.plan.Workers)
	floodDone := make(chan outcome, 1)
	flood.dur = r.plan.Warmup + r.plan.Duration + time.Second
	var statuses statusCount
	flood.onResult = statuses.add
	go func() { floodDone <- attack(flood) }()
	time.Sleep(r.plan.Warmup)
	sc, err := r.measure(srv, "verify during a flood", "", plain, false)
	if err != nil {
		return err
	}
	flooded := sc
	rl.Flooded = &flooded
	rl.Flood = <-floodDone
	rl.FloodStatuses = statuses.snapshot()

	// The flood alone, for what it writes: failure summaries are flushed
	// every audit.failure_summary_interval (10s), so the size is read
	// after one more interval and the queue drained.
	settle := func() (int64, uint64, error) {
		time.Sleep(11 * time.Second)
		v, err := srv.drain(r.ctx)
		if err != nil {
			return 0, 0, err
		}
		used, err := dbUsedBytes(r.ctx, db.dsn)
		return used, v.AuditWritten, err
	}
	before, events0, err := settle()
	if err != nil {
		return err
	}
	r.log("flood alone for %s", r.plan.Duration)
	flood.dur, flood.onResult = r.plan.Duration, nil
	rl.FloodAlone = attack(flood)
	after, events1, err := settle()
	if err != nil {
		return err
	}
	rl.GrowthBytes, rl.FloodEvents = after-before, events1-events0
	r.log("   the flood alone: %d requests (%.0f/s), the database grew by %d bytes, %d audit events", rl.FloodAlone.Requests,
		float64(rl.FloodAlone.Requests)/rl.FloodAlone.Elapsed.Seconds(), rl.GrowthBytes, rl.FloodEvents)
	srv.stop()

	// Budgets in Redis: a server of its own on the same database.
	redisURL := os.Getenv(redistest.URLEnv)
	if redisURL == "" {
		rl.RedisErr = "not run: set " + redistest.URLEnv
		return nil
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	env = append(env, "APIKEYS_RATELIMIT_REDIS_URL="+redisURL, "APIKEYS_RATELIMIT_REDIS_PREFIX=bench-"+hex.EncodeToString(b[:])+":")
	if srv, err = r.startServerEnv(db, dataDir, "redis", env); err != nil {
		return err
	}
	verifyURL = srv.base + "/api/v1/auth/verify?scope=" + url.QueryEscape(benchScopes[0])
	withLimit.target = cycleFrom(verifyURL, secretsOf(limited), clients, nil)
	first := withLimit
	first.dur, first.target = 0, firstN(withLimit.target, uint64(r.plan.Hot))
	if o := attack(first); o.Bad > 0 {
		return fmt.Errorf("first verification with budgets in Redis: %d failed: %v", o.Bad, o.Errors)
	}
	r.log("verify, keys with a limit, budgets in Redis")
	redis, err := r.measure(srv, "verify (limit, Redis)", "", withLimit, true)
	if err != nil {
		return err
	}
	rl.Redis = &redis
	return nil
}

// createKeys makes n keys in org over HTTP, each with the extra body
// fields given.
func createKeys(base, token, org string, n, workers int, extra map[string]any) ([]issued, outcome, error) {
	reqs := make([]vegeta.Target, n)
	for i := range reqs {
		body := map[string]any{"name": fmt.Sprintf("rate-limit bench key %d", i), "organization_id": org, "scopes": benchScopes}
		for k, v := range extra {
			body[k] = v
		}
		b, err := json.Marshal(body)
		if err != nil {
			return nil, outcome{}, err
		}
		reqs[i] = jsonTarget("POST", base+"/api/v1/api-keys", token, b)
	}
	return collect(reqs, workers, 201)
}

// legitClients returns n addresses of 203.0.113.0/24.
func legitClients(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("203.0.113.%d", 1+i%254)
	}
	return out
}

// cycleFrom returns a targeter that sends GET url with each secret in
// turn, forever, from each client address in turn (X-Forwarded-For),
// with the extra headers given.
func cycleFrom(url string, secrets, clients []string, extra http.Header) func() vegeta.Targeter {
	return func() vegeta.Targeter {
		var next atomic.Uint64
		return func(t *vegeta.Target) error {
			i := next.Add(1) - 1
			t.Method, t.URL = http.MethodGet, url
			t.Header = extra.Clone()
			if t.Header == nil {
				t.Header = http.Header{}
			}
			t.Header.Set("X-Api-Key", secrets[i%uint64(len(secrets))])
			t.Header.Set("X-Forwarded-For", clients[i%uint64(len(clients))])
			return nil
		}
	}
}

// firstN returns a targeter that sends the first n requests of target
// and stops.
func firstN(target func() vegeta.Targeter, n uint64) func() vegeta.Targeter {
	return func() vegeta.Targeter {
		inner := target()
		var sent atomic.Uint64
		return func(t *vegeta.Target) error {
			if sent.Add(1) > n {
				return vegeta.ErrNoTargets
			}
			return inner(t)
		}
	}
}

// floodLoad returns the flood: random well-formed keys from floodAddr,
// each request with a 3000-byte X-Original-Uri and a 600-byte
// User-Agent. It also returns those headers' size.
func floodLoad(verifyURL string, workers int) (load, int) {
	uri := "/" + strings.Repeat("a", 2999)
	ua := strings.Repeat("b", 600)
	next := randomKeys(verifyURL)
	return load{workers: workers, want: http.StatusTooManyRequests, target: func() vegeta.Targeter {
		inner := next()
		return func(t *vegeta.Target) error {
			if err := inner(t); err != nil {
				return err
			}
			t.Header.Set("X-Forwarded-For", floodAddr)
			t.Header.Set("X-Original-Uri", uri)
			t.Header.Set("User-Agent", ua)
			return nil
		}
	}}, len(uri) + len(ua)
}

// statusCount counts answers by status (attack calls onResult from one
// goroutine; snapshot is called after the attack ends).
type statusCount struct{ by map[int]uint64 }

func (s *statusCount) add(r *vegeta.Result) {
	if s.by == nil {
		s.by = map[int]uint64{}
	}
	s.by[int(r.Code)]++
}

func (s *statusCount) snapshot() map[int]uint64 { return s.by }

// dbUsedBytes returns the bytes a SQLite database uses, as a reader sees
// it (pages in use, the WAL's included): unlike the files' sizes, it does
// not move when a checkpoint copies earlier writes from the WAL.
func dbUsedBytes(ctx context.Context, path string) (int64, error) {
	var used int64
	err := adminDo(ctx, gormstore.DriverSQLite, path, func(s *gormstore.Store) error {
		var pages, free, size int64
		db := s.SQLDB()
		for q, v := range map[string]*int64{"PRAGMA page_count": &pages, "PRAGMA freelist_count": &free, "PRAGMA page_size": &size} {
			if err := db.QueryRowContext(ctx, q).Scan(v); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		used = (pages - free) * size
		return nil
	})
	return used, err
}

// targets writes the rate-limit rows of the targets table.
func (rl *rateLimitRun) targets(w func(string, ...any), ceil scenario) {
	if rl.Err != "" {
		w("| Rate-limit scenarios | failed: %s | **not met** |\n", strings.ReplaceAll(rl.Err, "\n", " "))
		return
	}
	if len(rl.Unlimited) > 0 && len(rl.Limited) > 0 {
		u, l := mean(rl.Unlimited), mean(rl.Limited)
		x := ratio(l.Out.Rate, u.Out.Rate)
		w("| Rate-limited key, budgets in memory, ≥ 0.9× the same verification without a limit (SQLite) | %.0f vs %.0f req/s = **%.2f×** (CPU-normalized %.2f×; mean of %d alternating runs each; p99 %s vs %s) | %s |\n",
			l.Out.Rate, u.Out.Rate, x, cpuRatio(l, u), len(rl.Limited), ms(l.Out.P99), ms(u.Out.P99), verdict(x >= 0.9 && l.Out.Bad == 0))
	}
	if rl.Redis != nil {
		x := ratio(rl.Redis.Out.Rate, ceil.Out.Rate)
		w("| Rate-limited key, budgets in Redis, ≥ 0.5× ceiling (SQLite) | %.0f vs %.0f req/s = **%.2f×** (CPU-normalized %.2f×; p99 %s) | %s |\n",
			rl.Redis.Out.Rate, ceil.Out.Rate, x, cpuRatio(*rl.Redis, ceil), ms(rl.Redis.Out.P99), verdict(x >= 0.5 && rl.Redis.Out.Bad == 0))
	} else if rl.RedisErr != "" {
		w("| Rate-limited key, budgets in Redis, ≥ 0.5× ceiling (SQLite) | %s | **not met** |\n", rl.RedisErr)
	}
	if f := rl.Flooded; f != nil && len(rl.Unlimited) > 0 {
		u := mean(rl.Unlimited)
		x, p := ratio(f.Out.Rate, u.Out.Rate), ratio(float64(f.Out.P99), float64(u.Out.P99))
		w("| Flood of unknown keys from one address: other clients keep ≥ 0.8× their throughput and p99 ≤ 2× | %.0f vs %.0f req/s = **%.2f×**, p99 %s vs %s = **%.2f×** (the flood: %d requests, %s) | %s |\n",
			f.Out.Rate, u.Out.Rate, x, ms(f.Out.P99), ms(u.Out.P99), p, rl.Flood.Requests, statusList(rl.FloodStatuses), verdict(x >= 0.8 && p <= 2 && f.Out.Bad == 0))
	}
	if o := rl.FloodAlone; o.Elapsed > 0 {
		perMin := float64(rl.GrowthBytes) / o.Elapsed.Minutes()
		w("| Flood: the database grows ≤ 1 MB per minute of flood | %.3f MB per minute (%d bytes over %s of %d requests, %d audit events) | %s |\n",
			perMin/1e6, rl.GrowthBytes, o.Elapsed.Round(100*time.Millisecond), o.Requests, rl.FloodEvents, verdict(perMin <= 1e6))
	}
}

// statusList formats answers counted by status, e.g. "429: 1200, 401: 100".
func statusList(by map[int]uint64) string {
	codes := make([]int, 0, len(by))
	for c := range by {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d × %d", by[c], c)
	}
	return strings.Join(parts, ", ")
}

// section writes the rate-limit scenarios' table and method.
func (rl *rateLimitRun) section(w func(string, ...any), ceil scenario) {
	w("### Rate limits\n\n")
	w("Servers of their own on the same SQLite file, with the default abuse limits (failed authentications: 100 per client address per minute) "+
		"and 127.0.0.1 trusted as a proxy, so that each client names its address in `X-Forwarded-For`: legitimate clients use 203.0.113.0/24, "+
		"the flood comes from %s. Keys with a limit have the largest one a key may have (%d per second), so that the budget is taken and checked "+
		"on every request but never runs out. The runs without and with a limit alternate on one server. During the flood, %d clients of one address "+
		"send random well-formed keys (each costs a database read until the address is throttled), each request carrying %d bytes of "+
		"`X-Original-Uri` and `User-Agent`; the legitimate clients are measured meanwhile. The database growth is the SQLite pages in use, read after "+
		"one failure-summary interval (10 s) and the audit queue drained, before and after the flood runs alone.\n\n",
		floodAddr, apikey.MaxRateLimit, rl.FloodWorkers, rl.LongHeaders)
	rows := append(append([]scenario{}, rl.Unlimited...), rl.Limited...)
	if rl.Flooded != nil {
		rows = append(rows, *rl.Flooded)
	}
	if rl.Redis != nil {
		rows = append(rows, *rl.Redis)
	}
	if len(rows) == 0 {
		return
	}
	w("| Scenario | Requests | OK/s | × ceiling | p50 | p99 | Errors | Argon2id | Key reads | Server CPU | CPU/request: server, load generator |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range rows {
		o := s.Out
		w("| %s | %d | %.0f | %.2f | %s | %s | %d | %s | %s | %.2f cores | %s, %s |\n", s.Name, o.Requests, o.Rate, ratio(o.Rate, ceil.Out.Rate),
			ms(o.P50), ms(o.P99), o.Bad, perReq(s.Counters.Argon2, o.Requests), perReq(s.Counters.pathReads(), o.Requests), s.CPU,
			us(s.ServerCPU, o.Requests), us(s.DriverCPU, o.Requests))
	}
	if o := rl.FloodAlone; o.Elapsed > 0 {
		w("\nThe flood alone: %d requests in %s (%.0f/s), p50 %s, p99 %s.\n", o.Requests, o.Elapsed.Round(100*time.Millisecond),
			float64(o.Requests)/o.Elapsed.Seconds(), ms(o.P50), ms(o.P99))
	}
	w("\n")
}
