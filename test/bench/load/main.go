// Command load is the load driver of `make bench`. It starts the ceiling
// (test/bench/baseline) and the real apikeys binary as separate processes
// on 127.0.0.1, drives them with vegeta (used as a library) through each
// scenario on each available database, reads the server's counters from
// its debug listener (Argon2id computations, database statements, cache
// and audit queue figures), and writes BENCHMARKS.md.
//
//	go run ./test/bench/load -server bin/apikeys -baseline bin/bench-baseline -out BENCHMARKS.md
//
// Postgres and MySQL run when APIKEYS_TEST_POSTGRES_DSN and
// APIKEYS_TEST_MYSQL_DSN are set; each gets a throwaway database that is
// dropped at the end. -quick runs a short SQLite-only pass.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/agentauri/apikeys/adapters/argon2id"
	"github.com/agentauri/apikeys/adapters/gormstore"
	"github.com/agentauri/apikeys/adapters/jwtauth"
	"github.com/agentauri/apikeys/core/apikey"
)

// Secrets shared by the driver and the servers it starts.
const (
	jwtSecret   = "bench-jwt-secret-0123456789abcdef0123456789"
	pepperValue = "bench-pepper-0123456789abcdef0123456789abcdef"
	chainKey    = "bench-audit-chain-key-0123456789abcdef0123"
	benchOrg    = "org_bench"
	// fencedScenario is the verification of keys with a full IP
	// allowlist and metadata, compared with the plain "verify".
	fencedScenario = "verify fenced"
	bigOrg         = "org_big"
)

// plan sizes a run.
type plan struct {
	Quick     bool
	Warmup    time.Duration // discarded load before each measured scenario
	Duration  time.Duration // measured load of each throughput scenario
	Workers   int           // concurrent clients of every throughput scenario
	Hot       int           // keys cycled by the verification scenario
	Cold      int           // keys verified once each in the cold-start scenario (SQLite)
	ColdOther int           // the same on Postgres and MySQL
	Rotations int
	BigOrg    int // keys in the organization whose first page is listed (0: skip)
	Scale     int // keys in the SQLite store for the scale scenarios (0: skip)
	ListDur   time.Duration
	Drivers   []string
}

func fullPlan() plan {
	return plan{Warmup: 2 * time.Second, Duration: 10 * time.Second, Workers: 64, Hot: 100, Cold: 1000, ColdOther: 100,
		Rotations: 100, BigOrg: 10_000, Scale: 100_000, ListDur: 3 * time.Second}
}

func quickPlan() plan {
	return plan{Quick: true, Warmup: time.Second, Duration: 3 * time.Second, Workers: 64, Hot: 100, Cold: 128,
		Rotations: 20, ListDur: time.Second, Drivers: []string{gormstore.DriverSQLite}}
}

type runner struct {
	plan     plan
	server   string
	baseline string
	config   string
	extraEnv []string
	// gatewayEnv turns gateway mode on in the servers started, in front of
	// the upstream of the gateway scenarios.
	gatewayEnv []string
	profile    string   // directory for CPU and allocation profiles; "" for none
	work       string   // temporary directory
	dbProcs    []string // names of the database server's processes, for their CPU time
	ctx        context.Context
	log        func(format string, args ...any)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var (
		r       runner
		out     = flag.String("out", "BENCHMARKS.md", "report to write")
		quick   = flag.Bool("quick", false, "short SQLite-only run")
		drivers = flag.String("databases", "", "comma-separated databases to run on (default: sqlite, plus postgres and mysql when their DSN variables are set)")
		workers = flag.Int("workers", 0, "concurrent clients (default 64)")
		dur     = flag.Duration("duration", 0, "measured duration of each throughput scenario")
		gobench = flag.String("gobench", "", "file holding `go test -bench` output to include")
		notes   = flag.String("notes", "test/bench/optimizations.md", "hand-written section to include")
		sets    multiFlag
	)
	flag.StringVar(&r.server, "server", "bin/apikeys", "apikeys binary")
	flag.StringVar(&r.baseline, "baseline", "bin/bench-baseline", "baseline binary")
	flag.StringVar(&r.config, "config", "configs/default.yaml", "configuration file the server runs with")
	flag.StringVar(&r.profile, "profile", "", "directory to save CPU and allocation profiles of the verification scenario in")
	flag.Var(&sets, "set", "extra server setting as an environment variable, e.g. -set APIKEYS_LOG_LEVEL=warn (repeatable; shown in the report)")
	flag.Parse()

	r.plan = fullPlan()
	if *quick {
		r.plan = quickPlan()
	}
	if *workers > 0 {
		r.plan.Workers = *workers
	}
	if *dur > 0 {
		r.plan.Duration = *dur
	}
	if *drivers != "" {
		r.plan.Drivers = strings.Split(*drivers, ",")
	} else if !*quick {
		r.plan.Drivers = []string{gormstore.DriverSQLite}
		for _, d := range []string{gormstore.DriverPostgres, gormstore.DriverMySQL} {
			if adminDSN(d) != "" {
				r.plan.Drivers = append(r.plan.Drivers, d)
			}
		}
	}
	r.extraEnv = sets
	r.log = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bench %s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	for _, p := range []*string{&r.server, &r.baseline, &r.config} {
		abs, err := filepath.Abs(*p)
		if err == nil {
			*p = abs
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r.ctx = ctx
	rep, err := r.run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	rep.GoBench = readOptional(*gobench)
	rep.Notes = readOptional(*notes)
	if err := os.WriteFile(*out, []byte(rep.markdown()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	r.log("wrote %s in %s", *out, time.Since(rep.Started).Round(time.Second))
	failed := false
	for _, d := range rep.Databases {
		if d.Err != "" {
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func readOptional(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

func (r *runner) run() (*report, error) {
	for _, bin := range []string{r.server, r.baseline} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("%w (run `make bench`, which builds it)", err)
		}
	}
	work, err := os.MkdirTemp("", "apikeys-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	r.work = work
	rep := &report{Started: time.Now(), Plan: r.plan, Machine: machine(), Sets: r.extraEnv}
	r.log("measuring one Argon2id computation at the default parameters")
	rep.HashTime, err = hashTime(5)
	if err != nil {
		return nil, err
	}
	rep.LoadBefore = loadAvg()
	for _, driver := range r.plan.Drivers {
		if r.ctx.Err() != nil {
			break
		}
		d := r.database(driver)
		rep.Databases = append(rep.Databases, d)
	}
	rep.LoadAfter = loadAvg()
	rep.Took = time.Since(rep.Started)
	return rep, r.ctx.Err()
}

// hashTime returns the median time of one Argon2id hash at the default
// parameters, measured alone in this process.
func hashTime(n int) (time.Duration, error) {
	h, err := argon2id.New(argon2id.DefaultParams(), 1)
	if err != nil {
		return 0, err
	}
	times := make([]time.Duration, n)
	for i := range times {
		start := time.Now()
		if _, err := h.Hash(context.Background(), "sk_test_bench"); err != nil {
			return 0, err
		}
		times[i] = time.Since(start)
	}
	slices.Sort(times)
	return times[n/2], nil
}

// database runs every scenario on one database.
func (r *runner) database(driver string) *dbRun {
	d := &dbRun{Driver: driver}
	r.log("== %s", driver)
	if err := r.databaseScenarios(d); err != nil {
		d.Err = err.Error()
		r.log("%s failed: %v", driver, err)
	}
	if driver == gormstore.DriverSQLite && d.Err == "" && r.ctx.Err() == nil {
		// The SQLite file the scenarios above left, with their keys.
		dataDir := filepath.Join(r.work, driver)
		db := &database{driver: driver, dsn: filepath.Join(dataDir, "apikeys.db")}
		if err := r.rateLimitScenarios(d, db, dataDir); err != nil {
			d.RateLimits.Err = err.Error()
			r.log("rate limits on %s failed: %v", driver, err)
		}
	}
	return d
}

func (r *runner) databaseScenarios(d *dbRun) (err error) {
	db := &database{driver: d.Driver}
	dataDir := filepath.Join(r.work, d.Driver)
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	if d.Driver == gormstore.DriverSQLite {
		db.dsn = filepath.Join(dataDir, "apikeys.db")
		db.version = "SQLite (modernc.org/sqlite v1.62 via libtnb/sqlite, WAL)"
	} else {
		admin := adminDSN(d.Driver)
		if admin == "" {
			return fmt.Errorf("set %s to run on %s", map[string]string{gormstore.DriverPostgres: "APIKEYS_TEST_POSTGRES_DSN", gormstore.DriverMySQL: "APIKEYS_TEST_MYSQL_DSN"}[d.Driver], d.Driver)
		}
		db, err = createDatabase(r.ctx, d.Driver, admin)
		if err != nil {
			return err
		}
		defer func() {
			if derr := db.drop(); derr != nil && err == nil {
				err = fmt.Errorf("drop benchmark database: %w", derr)
			}
		}()
	}
	d.Version = db.version
	r.dbProcs = map[string][]string{gormstore.DriverPostgres: {"postgres"}, gormstore.DriverMySQL: {"mariadbd", "mysqld"}}[d.Driver]

	// The ceiling, measured just before this database's scenarios (and
	// again after its steady ones).
	r.log("ceiling: bare gin handler, %d clients, %s", r.plan.Workers, r.plan.Duration)
	ceil, err := r.ceiling("ceiling (before)")
	if err != nil {
		return err
	}
	d.Ceilings = append(d.Ceilings, ceil)

	up, err := r.startBaseline("upstream", nil)
	if err != nil {
		return err
	}
	defer up.stop()
	r.gatewayEnv = []string{"APIKEYS_GATEWAY_UPSTREAM=" + up.base,
		"APIKEYS_ROUTES_FILE=" + filepath.Join(filepath.Dir(r.config), "routes.example.yaml")}

	srv, err := r.startServer(db, dataDir, "1")
	if err != nil {
		return err
	}
	defer func() { srv.stop() }()
	token, err := mintToken()
	if err != nil {
		return err
	}
	cold := r.plan.Cold
	if d.Driver != gormstore.DriverSQLite {
		cold = max(r.plan.ColdOther, r.plan.Rotations)
	}
	workers := runtime.NumCPU()
	r.log("create %d keys over HTTP (default Argon2id, %d clients)", r.plan.Hot, workers)
	hot, o, err := createOverHTTP(srv.base, token, benchOrg, r.plan.Hot, workers, nil)
	if err != nil {
		return fmt.Errorf("create hot keys: %w", err)
	}
	d.Management = append(d.Management, mgmt{Name: fmt.Sprintf("create (%d keys, %d clients)", r.plan.Hot, workers), Out: o})
	r.log("create %d more keys for the cold start and rotations", cold)
	coldKeys, o, err := createOverHTTP(srv.base, token, benchOrg, cold, workers, nil)
	if err != nil {
		return fmt.Errorf("create cold keys: %w", err)
	}
	d.Management = append(d.Management, mgmt{Name: fmt.Sprintf("create (%d keys, %d clients)", cold, workers), Out: o})

	r.log("create %d keys with a %d-entry IP allowlist and %d bytes of metadata", r.plan.Hot, apikey.MaxIPAllowlist, apikey.MaxMetadataBytes)
	fenced, o, err := createOverHTTP(srv.base, token, benchOrg, r.plan.Hot, workers, fencedExtra())
	if err != nil {
		return fmt.Errorf("create fenced keys: %w", err)
	}
	d.Management = append(d.Management, mgmt{Name: fmt.Sprintf("create with allowlist and metadata (%d keys, %d clients)", r.plan.Hot, workers), Out: o})

	verifyURL := srv.base + "/api/v1/auth/verify?scope=" + url.QueryEscape(benchScopes[0])
	hotSecrets, fencedSecrets := secretsOf(hot), secretsOf(fenced)
	// Verify each hot key once, so that the warm-up starts with them cached.
	for _, secrets := range [][]string{hotSecrets, fencedSecrets} {
		if o := attack(load{workers: r.plan.Workers, want: 200, target: cycle(verifyURL, secrets, true)}); o.Bad > 0 {
			return fmt.Errorf("first verification of the hot keys: %d failed: %v", o.Bad, o.Errors)
		}
	}
	steady := []struct {
		name, desc string
		l          load
	}{
		{"verify", fmt.Sprintf("valid key (%d keys in turn), scope check, usage audit", len(hotSecrets)),
			load{workers: r.plan.Workers, dur: r.plan.Duration, want: 200, target: cycle(verifyURL, hotSecrets, false)}},
		{fencedScenario, fmt.Sprintf("valid key (%d keys in turn) with a %d-entry IP allowlist (scanned to its last entry) and %d bytes of metadata (in the answer), scope check, usage audit",
			len(fencedSecrets), apikey.MaxIPAllowlist, apikey.MaxMetadataBytes),
			load{workers: r.plan.Workers, dur: r.plan.Duration, want: 200, target: cycle(verifyURL, fencedSecrets, false)}},
		{"bad checksum", "well-formed key whose checksum fails",
			load{workers: r.plan.Workers, dur: r.plan.Duration, want: 401, target: cycle(verifyURL, mustBadChecksums(1000), false)}},
		{"unknown key", "random key with a valid checksum, matching no key",
			load{workers: r.plan.Workers, dur: r.plan.Duration, want: 401, target: randomKeys(verifyURL)}},
	}
	for _, s := range steady {
		r.log("%s: %s", s.name, s.desc)
		sc, err := r.measure(srv, s.name, s.desc, s.l, true)
		if err != nil {
			return err
		}
		d.Scenarios = append(d.Scenarios, sc)
		if s.name == steady[len(steady)-1].name {
			r.log("ceiling again")
			ceil, err := r.ceiling("ceiling (after)")
			if err != nil {
				return err
			}
			d.Ceilings = append(d.Ceilings, ceil)
			if d.Gateway, err = r.gateway(srv, up, hotSecrets); err != nil {
				return err
			}
		}
		if r.profile != "" {
			if err := r.profileLoad(srv, d.Driver+"-"+strings.ReplaceAll(s.name, " ", "-"), s.l); err != nil {
				return err
			}
		}
	}

	// Cold start: every key verified for the first time, 64 clients. The
	// instance that creates a key primes its own cache with it, so the
	// cold start runs on a restarted one, as on any other instance.
	srv.stop()
	if srv, err = r.startServer(db, dataDir, "1b"); err != nil {
		return err
	}
	verifyURL = srv.base + "/api/v1/auth/verify?scope=" + url.QueryEscape(benchScopes[0])
	hash, err := hashTime(5)
	if err != nil {
		return err
	}
	r.log("cold start: %d keys verified once each by %d clients (one Argon2id takes %s now)", len(coldKeys), r.plan.Workers, hash.Round(100*time.Microsecond))
	cs, err := r.measure(srv, "cold start", "", load{workers: r.plan.Workers, want: 200, target: cycle(verifyURL, secretsOf(coldKeys), true)}, false)
	if err != nil {
		return err
	}
	after, err := srv.vars(r.ctx)
	if err != nil {
		return err
	}
	d.Cold = &coldStart{Keys: len(coldKeys), Scenario: cs, HashTime: hash, PeakInFlight: after.Argon2PeakInFlight,
		MaxConcurrent: after.Argon2MaxConcurrent, MemoryKiB: after.Argon2MemoryKiB}

	ids := make([]string, r.plan.Rotations)
	for i := range ids {
		ids[i] = coldKeys[i].ID
	}
	r.log("rotate %d keys over HTTP (%d clients)", len(ids), workers)
	_, o, err = rotateOverHTTP(srv.base, token, ids, workers)
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	d.Management = append(d.Management, mgmt{Name: fmt.Sprintf("rotate (%d keys, %d clients)", len(ids), workers), Out: o})

	// Scale: many keys in the store.
	var batches []batch
	if r.plan.BigOrg > 0 {
		batches = append(batches, batch{org: bigOrg, n: r.plan.BigOrg})
	}
	if d.Driver == gormstore.DriverSQLite && r.plan.Scale > r.plan.BigOrg {
		rest := r.plan.Scale - r.plan.BigOrg
		for i := 0; rest > 0; i++ {
			n := min(rest, 1000)
			batches = append(batches, batch{org: fmt.Sprintf("org_bulk_%03d", i), n: n})
			rest -= n
		}
	}
	if len(batches) == 0 {
		return nil
	}
	srv.stop()
	seeded := 0
	for _, b := range batches {
		seeded += b.n
	}
	r.log("seed %d keys in bulk with Argon2id m=%d KiB, t=%d (server stopped)", seeded, seedMemoryKiB, seedTime)
	start := time.Now()
	bulk, err := seedKeys(r.ctx, d.Driver, db.dsn, pepperValue, batches)
	if err != nil {
		return err
	}
	d.Seed = &seedInfo{Keys: seeded, BigOrg: r.plan.BigOrg, Took: time.Since(start), Total: seeded + len(hot) + len(coldKeys)}
	srv, err = r.startServer(db, dataDir, "2")
	if err != nil {
		return err
	}
	verifyURL = srv.base + "/api/v1/auth/verify?scope=" + url.QueryEscape(benchScopes[0])
	if o := attack(load{workers: r.plan.Workers, want: 200, target: cycle(verifyURL, hotSecrets, true)}); o.Bad > 0 {
		return fmt.Errorf("first verification of the hot keys after the restart: %d failed: %v", o.Bad, o.Errors)
	}
	if d.Driver == gormstore.DriverSQLite && r.plan.Scale > 0 {
		r.log("verify at scale: %d keys in the store", d.Seed.Total)
		sc, err := r.measure(srv, "verify at scale", fmt.Sprintf("as verify, with %d keys in the store", d.Seed.Total),
			load{workers: r.plan.Workers, dur: r.plan.Duration, want: 200, target: cycle(verifyURL, hotSecrets, false)}, true)
		if err != nil {
			return err
		}
		d.Scenarios = append(d.Scenarios, sc)
	}
	if r.plan.BigOrg > 0 {
		r.log("list: first page of 100 keys of an organization with %d keys, 1 client", r.plan.BigOrg)
		list := jsonTarget("GET", srv.base+"/api/v1/api-keys?organization_id="+bigOrg+"&limit=100", token, nil)
		sc, err := r.measure(srv, "list", "", load{workers: 1, dur: r.plan.ListDur, want: 200, target: repeat(list)}, true)
		if err != nil {
			return err
		}
		d.List = &sc
	}
	if d.Driver == gormstore.DriverSQLite && r.plan.Scale > 0 {
		r.log("first verification of %d distinct keys by %d clients", len(bulk), r.plan.Workers)
		sc, err := r.measure(srv, "distinct", "", load{workers: r.plan.Workers, want: 200, target: cycle(verifyURL, bulk, true)}, false)
		if err != nil {
			return err
		}
		v, err := srv.vars(r.ctx)
		if err != nil {
			return err
		}
		d.Distinct = &distinct{Keys: len(bulk), Scenario: sc, CacheEntries: v.CacheEntries, HeapAlloc: v.HeapAlloc}
	}
	return nil
}

func secretsOf(ks []issued) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Key
	}
	return out
}

func mustBadChecksums(n int) []string {
	s, err := badChecksums(n)
	if err != nil {
		panic(err)
	}
	return s
}

func mintToken() (string, error) {
	v, err := jwtauth.New(jwtauth.Config{Secret: []byte(jwtSecret)})
	if err != nil {
		return "", err
	}
	return v.Mint("bench", []string{benchOrg, bigOrg}, 6*time.Hour, time.Now())
}

// ceiling runs the baseline program through the verification load.
func (r *runner) ceiling(name string) (scenario, error) {
	addr, err := freeAddr()
	if err != nil {
		return scenario{}, err
	}
	p, err := startProc("baseline", r.baseline, []string{"-addr", addr}, []string{"PATH=" + os.Getenv("PATH")},
		"http://"+addr, "", filepath.Join(r.work, "baseline.log"))
	if err != nil {
		return scenario{}, err
	}
	defer p.stop()
	secrets := mustBadChecksums(100) // any value: the baseline only checks presence
	l := load{workers: r.plan.Workers, dur: r.plan.Duration, want: 200,
		target: cycle("http://"+addr+"/api/v1/auth/verify?scope=triggers%3Aread", secrets, false)}
	return r.measure(p, name, "", l, true)
}

// startBaseline starts the baseline program in mode (ceiling, upstream,
// proxy) with args.
func (r *runner) startBaseline(mode string, args []string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return startProc(mode, r.baseline, append([]string{"-addr", addr, "-mode", mode}, args...), []string{"PATH=" + os.Getenv("PATH")},
		"http://"+addr, "", filepath.Join(r.work, mode+".log"))
}

// gateway measures gateway mode (srv in front of up, GET /api/v1/triggers
// needing triggers:read, every use audited) between two runs of a bare
// httputil.ReverseProxy to the same upstream.
func (r *runner) gateway(srv, up *proc, secrets []string) (*gatewayRun, error) {
	g := &gatewayRun{}
	bare := func(name string) error {
		p, err := r.startBaseline("proxy", []string{"-upstream", up.base})
		if err != nil {
			return err
		}
		defer p.stop()
		r.log("%s: bare httputil.ReverseProxy to the upstream", name)
		sc, err := r.measure(p, name, "", load{workers: r.plan.Workers, dur: r.plan.Duration, want: 200,
			target: cycle(p.base+"/api/v1/triggers", secrets, false)}, true)
		g.Bare = append(g.Bare, sc)
		return err
	}
	if err := bare("bare proxy (before)"); err != nil {
		return nil, err
	}
	r.log("gateway: apikeys in gateway mode in front of the same upstream")
	sc, err := r.measure(srv, "gateway", "GET /api/v1/triggers through apikeys' gateway mode: route policy, key verified (cached), "+
		"usage audited, key stripped, identity added, proxied to the upstream",
		load{workers: r.plan.Workers, dur: r.plan.Duration, want: 200, target: cycle(srv.base+"/api/v1/triggers", secrets, false)}, true)
	if err != nil {
		return nil, err
	}
	g.Gateway = sc
	if err := bare("bare proxy (after)"); err != nil {
		return nil, err
	}
	return g, nil
}

// startServer starts apikeys on db with the default settings but the abuse
// limits off (unthrottledEnv), plus any -set overrides, and a debug
// listener.
func (r *runner) startServer(db *database, dataDir, tag string) (*proc, error) {
	return r.startServerEnv(db, dataDir, tag, unthrottledEnv)
}

// startServerEnv starts apikeys on db with the default settings, the
// settings given (as environment variables), any -set overrides and a
// debug listener.
func (r *runner) startServerEnv(db *database, dataDir, tag string, settings []string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	debug, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"APIKEYS_HTTP_ADDR=" + addr, "APIKEYS_DEBUG_ADDR=" + debug, "APIKEYS_DATA_DIR=" + dataDir,
		"APIKEYS_STORAGE_DRIVER=" + db.driver, "APIKEYS_STORAGE_DSN=" + db.dsn, "APIKEYS_STORAGE_AUTO_MIGRATE=true",
		"APIKEYS_JWT_SECRET=" + jwtSecret, "APIKEYS_SECURITY_PEPPER=" + pepperValue, "APIKEYS_AUDIT_CHAIN_KEY=" + chainKey,
	}
	env = append(append(append(env, settings...), r.gatewayEnv...), r.extraEnv...)
	return startProc("apikeys", r.server, []string{"serve", "--config", r.config}, env,
		"http://"+addr, "http://"+debug, filepath.Join(r.work, fmt.Sprintf("server-%s-%s.log", db.driver, tag)))
}

// measure runs l (after a warm-up when it is timed) and reads the
// server's counters and memory around it.
func (r *runner) measure(p *proc, name, desc string, l load, warm bool) (scenario, error) {
	if r.ctx.Err() != nil {
		return scenario{}, r.ctx.Err()
	}
	if warm && r.plan.Warmup > 0 {
		w := l
		w.dur, w.onResult = r.plan.Warmup, nil
		attack(w)
	}
	sc := scenario{Name: name, Desc: desc, Workers: l.workers}
	var before snapshot
	if p.debug != "" {
		var err error
		if before, err = p.drain(r.ctx); err != nil {
			return sc, err
		}
	}
	sc.PeakReset = p.resetPeak()
	cpu0, self0, db0 := p.cpu(), selfCPU(), dbCPU(r.dbProcs)
	sc.Out = attack(l)
	sc.DriverCPU = selfCPU() - self0
	sc.DBCPU = dbCPU(r.dbProcs) - db0
	if p.debug != "" {
		after, err := p.drain(r.ctx)
		if err != nil {
			return sc, err
		}
		sc.Counters = diff(before, after)
		sc.HasCounters = true
	}
	sc.ServerCPU = p.cpu() - cpu0
	if sc.Out.Elapsed > 0 {
		sc.CPU = sc.ServerCPU.Seconds() / sc.Out.Elapsed.Seconds()
	}
	sc.RSS, sc.PeakRSS = p.memory()
	r.log("   %s: %d requests, %.0f ok/s, p50 %s, p99 %s, %d bad; CPU per request: server %s, database %s, load generator %s", name, sc.Out.Requests, sc.Out.Rate,
		sc.Out.P50.Round(time.Microsecond), sc.Out.P99.Round(time.Microsecond), sc.Out.Bad, us(sc.ServerCPU, sc.Out.Requests),
		us(sc.DBCPU, sc.Out.Requests), us(sc.DriverCPU, sc.Out.Requests))
	if len(sc.Out.Errors) > 0 {
		r.log("   errors: %v", sc.Out.Errors)
	}
	return sc, nil
}

// profileLoad saves a CPU profile and an allocation profile of the server
// under load l, as <dir>/<name>.cpu.pprof and <name>.allocs.pprof.
func (r *runner) profileLoad(p *proc, name string, l load) error {
	if err := os.MkdirAll(r.profile, 0o755); err != nil {
		return err
	}
	const secs = 5 * time.Second
	l.dur = secs + 2*time.Second
	done := make(chan outcome, 1)
	go func() { done <- attack(l) }()
	time.Sleep(time.Second)
	cpuPath := filepath.Join(r.profile, name+".cpu.pprof")
	if err := p.profile(r.ctx, secs, cpuPath); err != nil {
		return err
	}
	<-done
	allocs := filepath.Join(r.profile, name+".allocs.pprof")
	if err := fetch(r.ctx, p.debug+"/debug/pprof/allocs", allocs); err != nil {
		return err
	}
	r.log("   profiles: %s, %s", cpuPath, allocs)
	return nil
}

// diff returns the counters' growth from a to b.
func diff(a, b snapshot) counters {
	return counters{
		Argon2:       b.Argon2Computations - a.Argon2Computations,
		Reads:        b.DBReads - a.DBReads,
		KeyReads:     b.DBKeyReads - a.DBKeyReads,
		Polls:        b.InvalidationPolls - a.InvalidationPolls,
		Writes:       b.DBWrites - a.DBWrites,
		Hits:         b.CacheHits - a.CacheHits,
		Misses:       b.CacheMisses - a.CacheMisses,
		AuditWritten: b.AuditWritten - a.AuditWritten,
		AuditBatches: b.AuditBatches - a.AuditBatches,
		Dropped:      b.AuditDropped - a.AuditDropped,
	}
}

// loadAvg returns the 1-minute load average and the number of running
// processes, to show whether something else competed for the CPUs.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 4 {
		return "unknown"
	}
	return f[0] + " (1 min), " + f[1] + " (5 min)"
}
