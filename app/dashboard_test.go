package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/agentauri/apikeys/adapters/jwtauth"
)

// dashboardFile is the Grafana dashboard the repository ships (compose
// provisions it).
const dashboardFile = "../configs/grafana/apikeys.json"

// dashboardTraffic makes every instrument the dashboard reads record at
// least once, one request (or wait) a line. A new instrument that plain
// traffic does not reach (say, a rate-limit refusal) gets its line here,
// and its panel in the dashboard.
var dashboardTraffic = []func(d *dashboardRun){
	func(d *dashboardRun) {
		d.created = d.expect(201, "POST", "/api/v1/api-keys", `{"name":"dash","organization_id":"org_1","scopes":["events:read"]}`, d.bearer...)
	},
	func(d *dashboardRun) {
		d.expect(200, "GET", "/api/v1/auth/verify", "", "X-API-Key", d.created.str("key"))
	}, // miss: Argon2id, a store read
	func(d *dashboardRun) {
		d.expect(200, "GET", "/api/v1/auth/verify", "", "X-API-Key", d.created.str("key"))
	}, // hit
	func(d *dashboardRun) {
		d.expect(401, "GET", "/api/v1/auth/verify", "", "X-API-Key", "sk_test_nonsense")
	},
	func(d *dashboardRun) {
		d.expect(404, "GET", "/api/v1/api-keys/key_00000000000000000000", "", d.bearer...)
	}, // a failed operation
	func(d *dashboardRun) {
		d.expect(204, "DELETE", "/api/v1/api-keys/"+d.created.str("id"), "", d.bearer...)
	},
	func(d *dashboardRun) {
		// A key with a rate limit, whose budget lives in a Redis that
		// does not answer (see TestGrafanaDashboard): decisions fail open
		// and count Redis errors.
		limited := d.expect(201, "POST", "/api/v1/api-keys", `{"name":"limited","organization_id":"org_1","scopes":["events:read"],"rate_limit":{"limit":5,"window":"1m"}}`, d.bearer...)
		d.expect(200, "GET", "/api/v1/auth/verify", "", "X-API-Key", limited.str("key"))
	},
	func(d *dashboardRun) { d.waitFor("apikeys_audit_flush_duration_seconds_count") }, // the usage events are written
}

// notOnDashboard are the families the service exports that the dashboard
// leaves out on purpose, with the reason. Everything else it exports under
// apikeys_, http_server_ and db_client_ must have a panel.
var notOnDashboard = map[string]string{
	"apikeys_audit_queue_last_batch_size":  "the batch-size histogram shows the same, over a window",
	"http_server_request_body_size_bytes":  "request bodies are capped by http.max_body_bytes; not an operating signal",
	"http_server_response_body_size_bytes": "answers are small JSON documents; not an operating signal",
}

type dashboardRun struct {
	t       *testing.T
	s       *tracedService
	bearer  []string
	created answer
}

func (d *dashboardRun) expect(status int, method, path, body string, headers ...string) answer {
	d.t.Helper()
	a := d.s.do(method, path, body, headers...)
	if a.status != status {
		d.t.Fatalf("%s %s: %d %v, want %d", method, path, a.status, a.body, status)
	}
	return a
}

// waitFor polls /metrics until a sample of series appears.
func (d *dashboardRun) waitFor(series string) {
	d.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(scrapeText(d.t, d.s.base), "\n"+series) {
		if time.Now().After(deadline) {
			d.t.Fatalf("%s never appeared in /metrics", series)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func scrapeText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// exported parses a Prometheus text exposition into the names of its
// samples (what PromQL selects: apikeys_verifications_total,
// ..._bucket, ...) and of its families (from the # TYPE lines).
func exported(text string) (samples, families map[string]bool) {
	samples, families = map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			families[strings.Fields(name)[0]] = true
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		samples[line[:strings.IndexAny(line, "{ ")]] = true
	}
	return samples, families
}

// grafanaVars are the Grafana variables the dashboard's queries use, with
// a value that makes them valid PromQL.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// metricNames returns the metric names expr selects.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := parser.ParseExpr(grafanaVars.Replace(expr))
	if err != nil {
		t.Errorf("query %q is not PromQL: %v", expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, selectorName(vs.Name, vs.LabelMatchers))
		}
		return nil
	})
	return names
}

func selectorName(name string, matchers []*labels.Matcher) string {
	for _, m := range matchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return name
}

// labelValues matches a Grafana variable query label_values(selector, label).
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// grafanaDashboard is the part of Grafana's dashboard model the test reads.
type grafanaDashboard struct {
	UID        string         `json:"uid"`
	Title      string         `json:"title"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Panels     []grafanaPanel `json:"panels"` // of a collapsed row
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID    string `json:"refId"`
		Expr     string `json:"expr"`
		Exemplar bool   `json:"exemplar"`
	} `json:"targets"`
}

// TestGrafanaDashboard checks configs/grafana/apikeys.json: valid JSON,
// well-formed panels on the datasource variable, every query valid PromQL
// naming only series a running service exports (scraped from its
// /metrics after traffic that makes every instrument record), and every
// family the service exports on some panel (or in notOnDashboard).
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash grafanaDashboard
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Errorf("dashboard uid %q title %q", dash.UID, dash.Title)
	}

	// Every query, and the variables' label_values queries.
	type query struct{ where, expr string }
	var queries []query
	ids := map[int]bool{}
	var walk func([]grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			if ids[p.ID] {
				t.Errorf("panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Title == "" || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %d %q: no title or a bad gridPos %+v", p.ID, p.Title, p.GridPos)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("panel %q: refId %q missing or repeated", p.Title, tg.RefID)
				}
				refs[tg.RefID] = true
				queries = append(queries, query{p.Title, tg.Expr})
			}
		}
	}
	walk(dash.Panels)
	hasDatasourceVar := false
	for _, v := range dash.Templating.List {
		switch v.Type {
		case "datasource":
			hasDatasourceVar = v.Name == "datasource"
		case "query":
			var q struct{ Query string }
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Errorf("variable %s: query %s", v.Name, v.Query)
				continue
			}
			m := labelValues.FindStringSubmatch(q.Query)
			if m == nil {
				t.Errorf("variable %s: %q is not label_values(selector, label)", v.Name, q.Query)
				continue
			}
			queries = append(queries, query{"variable " + v.Name, m[1]})
		}
	}
	if !hasDatasourceVar {
		t.Error("no datasource variable named datasource")
	}

	// What the service exports once every instrument has recorded.
	s := startTraced(t, func(c *Config) {
		c.Telemetry.Prometheus = true
		c.RateLimit.RedisURL = "redis://127.0.0.1:1/0" // nothing listens: every Redis call fails at once
	})
	tokens, err := jwtauth.New(jwtauth.Config{Secret: []byte(s.cfg.JWT.Secret)})
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := tokens.Mint("user_1", []string{"org_1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	run := &dashboardRun{t: t, s: s, bearer: []string{"Authorization", "Bearer " + jwt}}
	for _, step := range dashboardTraffic {
		step(run)
	}
	samples, families := exported(scrapeText(t, s.base))

	used := map[string]bool{}
	for _, q := range queries {
		names := metricNames(t, q.expr)
		if len(names) == 0 {
			t.Errorf("%s: query %q selects no metric", q.where, q.expr)
		}
		for _, n := range names {
			used[n] = true
			if !samples[n] {
				t.Errorf("%s: %s is not exported by the service (query %q)", q.where, n, q.expr)
			}
		}
	}
	for f := range families {
		if !strings.HasPrefix(f, "apikeys_") && !strings.HasPrefix(f, "http_server_") && !strings.HasPrefix(f, "db_client_") {
			continue
		}
		if _, skip := notOnDashboard[f]; skip {
			continue
		}
		onPanel := slices.ContainsFunc([]string{"", "_total", "_bucket", "_sum", "_count"}, func(suffix string) bool { return used[f+suffix] })
		if !onPanel {
			t.Errorf("the service exports %s but no panel shows it: add one to %s (or a reason to notOnDashboard)", f, dashboardFile)
		}
	}
	for f := range notOnDashboard {
		if !families[f] {
			t.Errorf("notOnDashboard names %s, which the service does not export", f)
		}
	}
	if t.Failed() {
		fmt.Fprintf(os.Stderr, "exported series: %v\n", sortedKeys(samples))
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
