package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/agentauri/apikeys/app"
	"github.com/agentauri/apikeys/core/apikey"
)

// counters are the growth of the server's counters over a scenario.
type counters struct {
	Argon2       uint64 // Argon2id computations
	Reads        uint64 // SELECT statements, invalidation polls included
	KeyReads     uint64 // SELECT statements on api_keys, invalidation polls included
	Polls        uint64 // invalidation polls (one SELECT of api_keys each)
	Writes       uint64 // INSERT/UPDATE statements
	Hits, Misses uint64 // verification cache
	AuditWritten uint64 // usage events stored
	AuditBatches uint64
	Dropped      uint64
}

// pathReads are the reads of keys not made by the invalidation poller:
// lookups of presented keys and management reads.
func (c counters) pathReads() uint64 {
	if c.KeyReads < c.Polls {
		return 0
	}
	return c.KeyReads - c.Polls
}

// auditReads are the reads the audit writer makes (its idempotence check
// and chain head), not caused by any one request.
func (c counters) auditReads() uint64 { return c.Reads - c.KeyReads }

type scenario struct {
	Name, Desc  string
	Workers     int
	Out         outcome
	Counters    counters
	HasCounters bool
	CPU         float64       // server CPU cores busy, on average
	ServerCPU   time.Duration // CPU time the server used
	DriverCPU   time.Duration // CPU time the load generator used
	DBCPU       time.Duration // CPU time the database server used (0 for SQLite, which runs in the server)
	RSS         uint64        // at the end
	PeakRSS     uint64        // during the scenario (since the start if PeakReset failed)
	PeakReset   bool
}

type mgmt struct {
	Name string
	Out  outcome
}

type coldStart struct {
	Keys          int
	HashTime      time.Duration // one Argon2id, measured by the driver just before
	Scenario      scenario
	PeakInFlight  int
	MaxConcurrent int
	MemoryKiB     uint32
}

type seedInfo struct {
	Keys, BigOrg, Total int
	Took                time.Duration
}

type distinct struct {
	Keys         int
	Scenario     scenario
	CacheEntries int
	HeapAlloc    uint64
}

type dbRun struct {
	Driver, Version string
	Ceilings        []scenario // measured before and after the steady scenarios
	Scenarios       []scenario
	Management      []mgmt
	Cold            *coldStart
	Seed            *seedInfo
	List            *scenario
	Distinct        *distinct
	RateLimits      *rateLimitRun
	Gateway         *gatewayRun
	Err             string
}

// gatewayRun is gateway mode measured between two runs of a bare
// httputil.ReverseProxy to the same upstream.
type gatewayRun struct {
	Bare    []scenario
	Gateway scenario
}

// bare is the mean of the bare proxy's runs.
func (g *gatewayRun) bare() outcome {
	var o outcome
	n := float64(len(g.Bare))
	var p50, p99 float64
	for _, s := range g.Bare {
		o.Rate += s.Out.Rate / n
		p50 += float64(s.Out.P50) / n
		p99 += float64(s.Out.P99) / n
	}
	o.P50, o.P99 = time.Duration(p50), time.Duration(p99)
	return o
}

// ceiling is the ceiling the ratios compare with: the mean rate and
// latencies of the ceiling's runs, and their CPU per request.
func (d *dbRun) ceiling() scenario {
	var c scenario
	if len(d.Ceilings) == 0 {
		return c
	}
	n := float64(len(d.Ceilings))
	var p50, p99 float64
	for _, s := range d.Ceilings {
		c.Out.Rate += s.Out.Rate / n
		p50 += float64(s.Out.P50) / n
		p99 += float64(s.Out.P99) / n
		c.Out.Requests += s.Out.Requests
		c.ServerCPU += s.ServerCPU
		c.DriverCPU += s.DriverCPU
	}
	c.Out.P50, c.Out.P99 = time.Duration(p50), time.Duration(p99)
	return c
}

// cpuPerRequest is the CPU time a scenario's requests cost the machine:
// server, database and load generator.
func (s scenario) cpuPerRequest() float64 {
	if s.Out.Requests == 0 {
		return 0
	}
	return float64(s.ServerCPU+s.DBCPU+s.DriverCPU) / float64(s.Out.Requests)
}

// cpuRatio estimates the rate ratio of s to the ceiling c were the cores
// theirs alone: the inverse ratio of their CPU per request. It moves far
// less than the measured ratio with the machine's other load.
func cpuRatio(s, c scenario) float64 { return ratio(c.cpuPerRequest(), s.cpuPerRequest()) }

func (d *dbRun) scenario(name string) *scenario {
	for i := range d.Scenarios {
		if d.Scenarios[i].Name == name {
			return &d.Scenarios[i]
		}
	}
	return nil
}

type machineInfo struct {
	CPU, Memory, Kernel, Go, Commit string
	Cores                           int
}

type report struct {
	Started               time.Time
	Took                  time.Duration
	Plan                  plan
	Machine               machineInfo
	Sets                  []string
	HashTime              time.Duration
	LoadBefore, LoadAfter string
	Databases             []*dbRun
	GoBench, Notes        string
}

func machine() machineInfo {
	m := machineInfo{Cores: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown", Memory: "unknown", Kernel: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kib uint64
				if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kib); err == nil {
					m.Memory = fmt.Sprintf("%.1f GiB", float64(kib)/(1<<20))
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// fetch saves the body of a GET of url, which must answer 200, to path.
func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// us formats CPU time per request in microseconds.
func us(d time.Duration, n uint64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)/float64(n))
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func perReq(n, reqs uint64) string {
	if reqs == 0 {
		return "-"
	}
	v := float64(n) / float64(reqs)
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%.3g/req)", n, v)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	mode := "make bench"
	if r.Plan.Quick {
		mode = "make bench-quick"
	}
	w("# Benchmarks\n\n")
	w("Written by `%s` (the load driver in `test/bench/load`) on %s; the run took %s. "+
		"Do not edit by hand: rerun `make bench`. The section \"Profile and changes\" comes from `test/bench/optimizations.md`.\n\n",
		mode, r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Took.Round(time.Second))

	w("## Machine and method\n\n")
	w("- Machine: %s, %d cores, %s memory, %s.\n", r.Machine.CPU, r.Machine.Cores, r.Machine.Memory, r.Machine.Kernel)
	w("- Go: %s; commit %s.\n", r.Machine.Go, orDash(r.Machine.Commit))
	w("- Load generator: vegeta v12.13.0 used as a library, closed loop: %d clients, each sending its next request as soon as "+
		"the previous one is answered; HTTP/1.1 keep-alive to 127.0.0.1. It runs on the same %d cores as the server, for the ceiling and the service alike.\n",
		r.Plan.Workers, r.Machine.Cores)
	w("- Each timed scenario: %s of warm-up (discarded), then %s measured. The ceiling is measured before and after each database's "+
		"steady scenarios; ratios compare with the mean of the two. The machine is shared with other work, which moves rates by up to "+
		"±20%% from one run to the next: the **CPU-normalized** ratio divides the ceiling's CPU time per request (server, database and "+
		"load generator, read from /proc) by the scenario's, the ratio the two would reach on otherwise idle cores, and moves much less. "+
		"The verdicts follow the measured ratio, as the targets are stated.\n", r.Plan.Warmup, r.Plan.Duration)
	w("- Ceiling: `test/bench/baseline`, a bare gin handler (release mode, no middleware) answering a constant JSON body, shaped like the " +
		"service's, to `GET /api/v1/auth/verify` with `X-API-Key`.\n")
	def := app.Defaults()
	w("- Server: the real binary, `apikeys serve --config configs/default.yaml`, default settings: Argon2id m=%d KiB, t=%d, p=%d, "+
		"pool of NumCPU computations; verification cache of %d keys, TTL %s; usage audit on, queue of %d in %s mode, batches of %d or every %s; "+
		"log at %s (JSON, to a file), verification access lines at %s; invalidation poll every %s. Set for the run: listen and debug addresses, "+
		"data dir, DSN, a fixed JWT secret and pepper, and the abuse limits off (`security.failed_auth.limit=0`, `security.management_limit.rate=0`): "+
		"the failure scenarios measure what a failure costs, and the set-up creates keys faster than a principal may; the rate-limit scenarios run with them on. Gateway mode is on in front of the gateway scenarios' upstream, with configs/routes.example.yaml.",
		def.Security.Argon2.MemoryKiB, def.Security.Argon2.Iterations, def.Security.Argon2.Parallelism, def.Security.CacheSize, def.Security.CacheTTL,
		def.Audit.QueueCapacity, def.Audit.OnFull, def.Audit.BatchSize, def.Audit.FlushInterval, def.Log.Level, def.Log.VerifyLevel,
		def.Security.InvalidationPoll)
	if len(r.Sets) > 0 {
		w(" **Overrides for this run:** `%s`.", strings.Join(r.Sets, "`, `"))
	}
	w("\n")
	w("- One Argon2id computation at the default parameters takes **%s** here (median of 5, measured alone by the driver).\n", ms(r.HashTime))
	w("- Counters come from the server's debug listener (`debug.addr`, expvar): Argon2id computations (`argon2id.Hasher.Computations`), " +
		"SQL statements counted by a GORM callback in gormstore, cache hits and misses, audit events and batches stored. " +
		"\"Key reads\" are the reads of the api_keys table (lookups of presented keys), leaving out the invalidation poller's one read every 250 ms; " +
		"\"audit writer reads\" are the batched writer's own reads (its idempotence check per batch), caused by no single request. Each scenario's counters are read after " +
		"the audit queue has drained, so its batched writes are included.\n")
	w("- Load average before the run: %s; after: %s.\n\n", r.LoadBefore, r.LoadAfter)

	r.targets(w)

	for _, d := range r.Databases {
		r.database(w, d)
	}

	if r.GoBench != "" {
		w("## Go benchmarks (`go test -bench`, in process)\n\n")
		w("`test/bench`: the core verification path with the real adapters (SQLite store, default Argon2id, pepper, otter cache, audit queue "+
			"at the adapter's defaults) and the HTTP path through the gin engine, without sockets. Each Verify and HTTP figure includes storing "+
			"the usage event: the benchmark waits for the queue to drain inside the timed region, so on SQLite the audit writer sets the pace "+
			"(compare HTTP/ceiling, which stores nothing). The Audit* benchmarks measure the audit trail alone.\n\n```\n%s```\n\n", ensureNL(r.GoBench))
	}
	if r.Notes != "" {
		w("%s\n", strings.TrimSpace(r.Notes))
	}
	return b.String()
}

func ensureNL(s string) string {
	if !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (r *report) targets(w func(string, ...any)) {
	w("## Targets\n\n| Target | Measured | Verdict |\n|---|---|---|\n")
	for _, d := range r.Databases {
		if d.Err != "" {
			w("| %s scenarios | failed: %s | **not met** |\n", d.Driver, strings.ReplaceAll(d.Err, "\n", " "))
			continue
		}
		cs := d.ceiling()
		ceil := cs.Out
		if v := d.scenario("verify"); v != nil {
			x := ratio(v.Out.Rate, ceil.Rate)
			p := ratio(float64(v.Out.P99), float64(ceil.P99))
			if d.Driver == "sqlite" {
				w("| Verification (SQLite) ≥ 0.6× ceiling req/s | %.0f vs %.0f req/s = **%.2f×** (CPU-normalized %.2f×) | %s |\n", v.Out.Rate, ceil.Rate, x, cpuRatio(*v, cs), verdict(x >= 0.6 && v.Out.Bad == 0))
				w("| Verification (SQLite) p99 ≤ 2× ceiling p99 | %s vs %s = **%.2f×** | %s |\n", ms(v.Out.P99), ms(ceil.P99), p, verdict(p <= 2))
			} else {
				w("| Verification (%s) ≥ 0.5× ceiling req/s | %.0f vs %.0f req/s = **%.2f×** (CPU-normalized %.2f×; p99 %s vs %s) | %s |\n", d.Driver, v.Out.Rate, ceil.Rate, x, cpuRatio(*v, cs), ms(v.Out.P99), ms(ceil.P99), verdict(x >= 0.5 && v.Out.Bad == 0))
			}
		}
		if f, v := d.scenario(fencedScenario), d.scenario("verify"); f != nil && v != nil {
			x, c := ratio(f.Out.Rate, v.Out.Rate), ratio(v.cpuPerRequest(), f.cpuPerRequest())
			w("| Verification with a %d-entry IP allowlist and %d bytes of metadata (%s) within 5%% of a plain key | %.0f vs %.0f req/s = **%.3f×** (CPU per request %.3f× the plain key's); p99 %s vs %s | %s |\n",
				apikey.MaxIPAllowlist, apikey.MaxMetadataBytes, d.Driver, f.Out.Rate, v.Out.Rate, x, ratio(f.cpuPerRequest(), v.cpuPerRequest()), ms(f.Out.P99), ms(v.Out.P99),
				verdict(f.Out.Bad == 0 && (x >= 0.95 || c >= 0.95)))
		}
		if v := d.scenario("bad checksum"); v != nil && d.Driver == "sqlite" {
			x := ratio(v.Out.Rate, ceil.Rate)
			c := v.Counters
			w("| Bad checksum ≥ 0.6× ceiling, 0 Argon2id, 0 DB queries | %.2f× (CPU-normalized %.2f×), %d Argon2id, %d key reads for %d requests (their %d key.auth_failed events took %d batched writer statements) | %s |\n",
				x, cpuRatio(*v, cs), c.Argon2, c.pathReads(), v.Out.Requests, c.AuditWritten, c.Writes+c.auditReads(), verdict(x >= 0.6 && c.Argon2 == 0 && c.pathReads() == 0))
		}
		if v := d.scenario("unknown key"); v != nil && d.Driver == "sqlite" {
			x := ratio(v.Out.Rate, ceil.Rate)
			c := v.Counters
			w("| Unknown key ≥ 0.3× ceiling, 0 Argon2id, ≤ 1 indexed read each | %.2f× (CPU-normalized %.2f×), %d Argon2id, %d reads for %d requests | %s |\n",
				x, cpuRatio(*v, cs), c.Argon2, c.pathReads(), v.Out.Requests, verdict(x >= 0.3 && c.Argon2 == 0 && c.pathReads() <= v.Out.Requests))
		}
		if cs := d.Cold; cs != nil && d.Driver == "sqlite" {
			peak := uint64(cs.PeakInFlight) * uint64(cs.MemoryKiB) << 10
			expect := time.Duration(float64(cs.HashTime) * float64(cs.Keys) / float64(r.Machine.Cores))
			c := cs.Scenario.Counters
			w("| Cold start: %d keys, %d clients, Argon2id memory < 64 MiB | peak %d in flight × %d KiB = %s (pool %d); peak RSS %s | %s |\n",
				cs.Keys, cs.Scenario.Workers, cs.PeakInFlight, cs.MemoryKiB, mib(peak), cs.MaxConcurrent, mib(cs.Scenario.PeakRSS), verdict(peak < 64<<20))
			w("| Cold start ≈ keys × hash time / cores; 1 Argon2id + 1 read per key | %s vs %s expected (%.2f×); %s Argon2id, %s reads | %s |\n",
				ms(cs.Scenario.Out.Elapsed), ms(expect), ratio(float64(cs.Scenario.Out.Elapsed), float64(expect)),
				perReq(c.Argon2, uint64(cs.Keys)), perReq(c.pathReads(), uint64(cs.Keys)),
				verdict(cs.Scenario.Out.Bad == 0 && c.Argon2 == uint64(cs.Keys) && c.pathReads() == uint64(cs.Keys) && float64(cs.Scenario.Out.Elapsed) <= 1.5*float64(expect)))
		}
		if s := d.scenario("verify at scale"); s != nil {
			if v := d.scenario("verify"); v != nil {
				x := ratio(s.Out.Rate, v.Out.Rate)
				w("| %d keys in the store: verification within 10%% of the %d-key figure | %.0f vs %.0f req/s = %.2f× | %s |\n",
					d.Seed.Total, r.Plan.Hot+max(r.Plan.Cold, 0), s.Out.Rate, v.Out.Rate, x, verdict(x >= 0.9))
			}
		}
		if l := d.List; l != nil {
			w("| List 100 of %d keys (%s) p50 ≤ 10 ms | p50 %s, p99 %s | %s |\n", d.Seed.BigOrg, d.Driver, ms(l.Out.P50), ms(l.Out.P99), verdict(l.Out.P50 <= 10*time.Millisecond && l.Out.Bad == 0))
		}
		if rl := d.RateLimits; rl != nil {
			rl.targets(w, cs)
		}
		if g := d.Gateway; g != nil {
			b, o := g.bare(), g.Gateway.Out
			p50, p99, x := ratio(float64(o.P50), float64(b.P50)), ratio(float64(o.P99), float64(b.P99)), ratio(o.Rate, b.Rate)
			w("| Gateway mode (%s) p50 ≤ 1.3× bare httputil.ReverseProxy | %s vs %s = **%.2f×** | %s |\n", d.Driver, ms(o.P50), ms(b.P50), p50, verdict(p50 <= 1.3))
			w("| Gateway mode (%s) p99 ≤ 1.3× bare proxy | %s vs %s = **%.2f×** | %s |\n", d.Driver, ms(o.P99), ms(b.P99), p99, verdict(p99 <= 1.3))
			w("| Gateway mode (%s) throughput ≥ 0.75× bare proxy | %.0f vs %.0f req/s = **%.2f×** (%d errors) | %s |\n", d.Driver, o.Rate, b.Rate, x, o.Bad, verdict(x >= 0.75 && o.Bad == 0))
		}
		if x := d.Distinct; x != nil {
			w("| Memory after verifying %d distinct keys (cache_size %d) | RSS %s, Go heap %s, %d cache entries | reported |\n",
				x.Keys, app.Defaults().Security.CacheSize, mib(x.Scenario.RSS), mib(x.HeapAlloc), x.CacheEntries)
		}
	}
	w("\n")
}

func (r *report) database(w func(string, ...any), d *dbRun) {
	w("## %s\n\n", d.Driver)
	if d.Version != "" {
		w("Server: %s.\n\n", d.Version)
	}
	if d.Err != "" {
		w("**The run failed:** %s\n\n", d.Err)
	}
	ceil := d.ceiling().Out
	rows := append(append([]scenario{}, d.Ceilings...), d.Scenarios...)
	if len(rows) > 0 {
		w("| Scenario | Requests | OK/s | × ceiling | p50 | p99 | p99 × ceiling | Errors | Argon2id | Key reads | Audit writer reads | DB writes | Audit events (batches) | Cache hits / misses | Server CPU | CPU/request: server, database, load generator | Peak RSS |\n")
		w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, s := range rows {
			o := s.Out
			w("| %s | %d | %.0f | %.2f | %s | %s | %.2f | %d | ", s.Name, o.Requests, o.Rate, ratio(o.Rate, ceil.Rate), ms(o.P50), ms(o.P99),
				ratio(float64(o.P99), float64(ceil.P99)), o.Bad)
			if s.HasCounters {
				c := s.Counters
				w("%s | %s | %d | %s | %d (%d) | %d / %d | ", perReq(c.Argon2, o.Requests), perReq(c.pathReads(), o.Requests), c.auditReads(), perReq(c.Writes, o.Requests),
					c.AuditWritten, c.AuditBatches, c.Hits, c.Misses)
			} else {
				w("- | - | - | - | - | - | ")
			}
			db := "-"
			if d.Driver != "sqlite" {
				db = us(s.DBCPU, o.Requests)
			}
			w("%.2f cores | %s, %s, %s | %s |\n", s.CPU, us(s.ServerCPU, o.Requests), db, us(s.DriverCPU, o.Requests), mib(s.PeakRSS))
		}
		w("\n")
		for _, s := range rows {
			if s.Desc != "" {
				w("- **%s**: %s.\n", s.Name, s.Desc)
			}
			if len(s.Out.Errors) > 0 {
				w("  Failures seen: %s.\n", strings.Join(s.Out.Errors, "; "))
			}
		}
		w("\n")
	}
	if g := d.Gateway; g != nil {
		w("**Gateway mode** (`gateway.upstream`, the example route policy): `GET /api/v1/triggers` with a valid key (%d in turn) "+
			"through apikeys to a small upstream (`test/bench/baseline -mode upstream`), side by side with a bare "+
			"`httputil.ReverseProxy` (`-mode proxy`, the same keep-alive pool) to the same upstream, %d clients each:\n\n", r.Plan.Hot, g.Gateway.Workers)
		w("| Scenario | Requests | OK/s | × bare | p50 | p99 | Errors | Server CPU | CPU/request: server, load generator | Peak RSS |\n|---|---|---|---|---|---|---|---|---|---|\n")
		b := g.bare()
		for _, s := range append(append([]scenario{}, g.Bare[:1]...), append([]scenario{g.Gateway}, g.Bare[1:]...)...) {
			o := s.Out
			w("| %s | %d | %.0f | %.2f | %s | %s | %d | %.2f cores | %s, %s | %s |\n", s.Name, o.Requests, o.Rate, ratio(o.Rate, b.Rate), ms(o.P50), ms(o.P99), o.Bad,
				s.CPU, us(s.ServerCPU, o.Requests), us(s.DriverCPU, o.Requests), mib(s.PeakRSS))
		}
		w("\nThe bare proxy's CPU column is the proxy's alone; the upstream's is in neither.\n\n")
	}
	if cs := d.Cold; cs != nil {
		o := cs.Scenario.Out
		c := cs.Scenario.Counters
		expect := time.Duration(float64(cs.HashTime) * float64(cs.Keys) / float64(r.Machine.Cores))
		w("**Cold start.** %d keys, never verified by this process, each verified once by %d concurrent clients: %s in all "+
			"(expected ≈ %d × %s / %d cores = %s), p50 %s, p99 %s, %d errors; %d Argon2id computations and %d DB reads; "+
			"at most %d Argon2id computations in flight (pool %d) × %d KiB = %s of Argon2 memory; peak RSS %s.\n\n",
			cs.Keys, cs.Scenario.Workers, ms(o.Elapsed), cs.Keys, ms(cs.HashTime), r.Machine.Cores, ms(expect), ms(o.P50), ms(o.P99), o.Bad,
			c.Argon2, c.pathReads(), cs.PeakInFlight, cs.MaxConcurrent, cs.MemoryKiB, mib(uint64(cs.PeakInFlight)*uint64(cs.MemoryKiB)<<10), mib(cs.Scenario.PeakRSS))
	}
	if rl := d.RateLimits; rl != nil {
		rl.section(w, d.ceiling())
	}
	if len(d.Management) > 0 {
		w("**Management** (over HTTP with a JWT; each create or rotate computes one Argon2id at the default parameters):\n\n")
		w("| Operation | Requests | Errors | p50 | p99 | max | Throughput |\n|---|---|---|---|---|---|---|\n")
		for _, m := range d.Management {
			w("| %s | %d | %d | %s | %s | %s | %.1f/s |\n", m.Name, m.Out.Requests, m.Out.Bad, ms(m.Out.P50), ms(m.Out.P99), ms(m.Out.Max), m.Out.Rate)
		}
		w("\n")
	}
	if s := d.Seed; s != nil {
		w("**Seeding.** %d more keys (%d of them in one organization) were inserted in %s by the driver, in transactions of 2,000 rows "+
			"through the store's GORM handle, while the server was stopped. Each is made as the service makes a key (`apikey.Generate`, "+
			"the pepper digest, the hint, an Argon2id PHC hash) but hashed with Argon2id m=%d KiB, t=%d: at the default parameters the same "+
			"seeding would cost %d × %s / %d cores ≈ %s, and so would their first verification. No key.created events are written for them. "+
			"On Postgres and MySQL the driver then runs ANALYZE on api_keys, as autovacuum and InnoDB would soon after. "+
			"The server then restarted with its default settings; it verifies each key with the parameters its hash records. "+
			"The store then held %d keys.\n\n",
			s.Keys, s.BigOrg, s.Took.Round(100*time.Millisecond), seedMemoryKiB, seedTime, s.Keys, ms(r.HashTime), r.Machine.Cores,
			(time.Duration(float64(r.HashTime) * float64(s.Keys) / float64(r.Machine.Cores))).Round(time.Second), s.Total)
	}
	if l := d.List; l != nil {
		c := l.Counters
		w("**Listing.** `GET /api/v1/api-keys?organization_id=%s&limit=100` (first page of %d keys), one client for %s: %d requests, "+
			"p50 %s, p99 %s, %d errors; %s DB reads (a count and a page query).\n\n",
			bigOrg, d.Seed.BigOrg, r.Plan.ListDur, l.Out.Requests, ms(l.Out.P50), ms(l.Out.P99), l.Out.Bad, perReq(c.pathReads(), l.Out.Requests))
	}
	if x := d.Distinct; x != nil {
		o := x.Scenario.Out
		c := x.Scenario.Counters
		w("**%d distinct keys.** Each seeded key verified once by %d clients: %s (%.0f/s), %d errors, %d Argon2id computations "+
			"(at the seeded parameters), %d DB reads. Afterwards the server's RSS is **%s** (peak %s), Go heap %s, %d cache entries "+
			"(`security.cache_size` bounds them: %d by default).\n\n",
			x.Keys, x.Scenario.Workers, ms(o.Elapsed), o.Rate, o.Bad, c.Argon2, c.pathReads(), mib(x.Scenario.RSS), mib(x.Scenario.PeakRSS), mib(x.HeapAlloc), x.CacheEntries, app.Defaults().Security.CacheSize)
	}
}
