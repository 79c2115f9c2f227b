// Package deploy checks the files that run apikeys in containers
// (docker-compose.yml, the Dockerfile) and the observability stack they
// start (the OpenTelemetry collector, Prometheus and Grafana
// configurations) without a Docker engine: they parse, every image is
// pinned to a version, every mounted file exists, and the components
// refer to each other by the names and ports compose gives them.
package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root is the repository, from this package's directory.
const root = "../.."

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type composeFile struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build *struct {
			Context string            `yaml:"context"`
			Args    map[string]string `yaml:"args"`
		} `yaml:"build"`
		Command     any      `yaml:"command"`
		Volumes     []string `yaml:"volumes"`
		Ports       []string `yaml:"ports"`
		Environment map[string]string
	} `yaml:"services"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	readYAML(t, "docker-compose.yml", &c)
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return c
}

// pinned is an image reference with a version tag: at least major.minor
// (postgres:16.9-alpine, prom/prometheus:v3.14.0), never latest, a bare
// major, or no tag at all.
var pinned = regexp.MustCompile(`^[a-z0-9./_-]+:v?[0-9]+(\.[0-9]+)+(-[a-z0-9.]+)?$`)

// TestComposeImagesArePinned: every third-party image names a version;
// the service's own image is built with the version stamped in.
func TestComposeImagesArePinned(t *testing.T) {
	c := loadCompose(t)
	for name, svc := range c.Services {
		if svc.Build != nil {
			if svc.Build.Args["VERSION"] == "" {
				t.Errorf("service %s builds the image without the VERSION build argument", name)
			}
			continue
		}
		if !pinned.MatchString(svc.Image) {
			t.Errorf("service %s: image %q is not pinned to a version", name, svc.Image)
		}
	}
	for _, want := range []string{"otel-collector", "jaeger", "prometheus", "grafana"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("no %s service", want)
		}
	}
	if img := c.Services["jaeger"].Image; !strings.HasPrefix(img, "jaegertracing/jaeger:2.") {
		t.Errorf("jaeger runs %q, want Jaeger v2 (jaegertracing/jaeger:2.x), not the v1 all-in-one", img)
	}
}

// TestDockerfileStampsTheVersion: the VERSION build argument reaches the
// binary's app.Version (service.version) and the image label.
func TestDockerfileStampsTheVersion(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d := string(raw)
	for _, want := range []string{"ARG VERSION", "-X github.com/agentauri/apikeys/app.Version=${VERSION}", `org.opencontainers.image.version="${VERSION}"`} {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// TestDockerfileDataDirIsPrivate: the image's data directory (SQLite
// database, development secrets) belongs to the service's user and no one
// else may read it (issue 11 §11).
func TestDockerfileDataDirIsPrivate(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d := string(raw)
	for _, want := range []string{"chmod 0700 /out/data", "COPY --from=build --chown=65532:65532 --chmod=0700 /out/data /app/data",
		"USER 65532:65532", "APIKEYS_DATA_DIR=/app/data"} {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// TestComposeMountsExist: every file or directory compose mounts from the
// repository exists, and the provisioning directory holds what Grafana
// reads.
func TestComposeMountsExist(t *testing.T) {
	c := loadCompose(t)
	for name, svc := range c.Services {
		for _, v := range svc.Volumes {
			src, _, ok := strings.Cut(v, ":")
			if !ok || !strings.HasPrefix(src, "./") {
				continue // a named volume
			}
			if _, err := os.Stat(filepath.Join(root, src)); err != nil {
				t.Errorf("service %s mounts %s, which does not exist", name, src)
			}
		}
	}
}

// mountOf returns the container path where service mounts the
// repository's file src.
func mountOf(t *testing.T, c composeFile, service, src string) string {
	t.Helper()
	for _, v := range c.Services[service].Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[0] == src {
			return parts[1]
		}
	}
	t.Fatalf("service %s does not mount %s", service, src)
	return ""
}

// hasPort reports whether compose publishes port of service.
func hasPort(c composeFile, service, port string) bool {
	for _, p := range c.Services[service].Ports {
		if strings.HasSuffix(p, ":"+port) || p == port {
			return true
		}
	}
	return false
}

type collectorConfig struct {
	Receivers  map[string]any            `yaml:"receivers"`
	Processors map[string]any            `yaml:"processors"`
	Exporters  map[string]map[string]any `yaml:"exporters"`
	Extensions map[string]any            `yaml:"extensions"`
	Service    struct {
		Extensions []string `yaml:"extensions"`
		Pipelines  map[string]struct {
			Receivers  []string `yaml:"receivers"`
			Processors []string `yaml:"processors"`
			Exporters  []string `yaml:"exporters"`
		} `yaml:"pipelines"`
	} `yaml:"service"`
}

// deprecatedExporters are component names the collector (v0.165) keeps
// only as deprecated aliases, with their replacements.
var deprecatedExporters = map[string]string{"otlp": "otlp_grpc", "otlphttp": "otlp_http", "logging": "debug"}

// TestCollectorConfig: the collector's pipelines use only components the
// file defines, under their current names; traces reach Jaeger, metrics
// the Prometheus exporter with OpenMetrics on, logs an exporter.
func TestCollectorConfig(t *testing.T) {
	c := loadCompose(t)
	if got := mountOf(t, c, "otel-collector", "./configs/otel-collector.yaml"); got == "" {
		t.Fatal("the collector's configuration is not mounted")
	}
	var cfg collectorConfig
	readYAML(t, "configs/otel-collector.yaml", &cfg)
	for id := range cfg.Exporters {
		kind, _, _ := strings.Cut(id, "/")
		if repl, ok := deprecatedExporters[kind]; ok {
			t.Errorf("exporter %s uses the deprecated name %q: use %q", id, kind, repl)
		}
	}
	for _, ext := range cfg.Service.Extensions {
		if _, ok := cfg.Extensions[ext]; !ok {
			t.Errorf("extension %s is used but not defined", ext)
		}
	}
	for _, signal := range []string{"traces", "metrics", "logs"} {
		p, ok := cfg.Service.Pipelines[signal]
		if !ok {
			t.Errorf("no %s pipeline", signal)
			continue
		}
		for _, r := range p.Receivers {
			if _, ok := cfg.Receivers[r]; !ok {
				t.Errorf("%s pipeline: receiver %s is not defined", signal, r)
			}
		}
		for _, pr := range p.Processors {
			if _, ok := cfg.Processors[pr]; !ok {
				t.Errorf("%s pipeline: processor %s is not defined", signal, pr)
			}
		}
		for _, e := range p.Exporters {
			if _, ok := cfg.Exporters[e]; !ok {
				t.Errorf("%s pipeline: exporter %s is not defined", signal, e)
			}
		}
	}
	traces := cfg.Service.Pipelines["traces"].Exporters
	if !slices.ContainsFunc(traces, func(e string) bool {
		return strings.HasPrefix(e, "otlp_grpc") && cfg.Exporters[e]["endpoint"] == "jaeger:4317"
	}) {
		t.Errorf("traces are not exported over OTLP/gRPC to jaeger:4317: %v", traces)
	}
	prom := cfg.Exporters["prometheus"]
	if !slices.Contains(cfg.Service.Pipelines["metrics"].Exporters, "prometheus") || prom["enable_open_metrics"] != true {
		t.Errorf("metrics: want the prometheus exporter with enable_open_metrics: true (exemplars), got %v", prom)
	}
	if ep, _ := prom["endpoint"].(string); !strings.HasSuffix(ep, ":8889") || !hasPort(c, "otel-collector", "8889") {
		t.Errorf("the prometheus exporter listens on %q; compose publishes 8889", ep)
	}
}

// TestPrometheusConfig: Prometheus keeps the collector's job and instance
// labels (honor_labels), asks for OpenMetrics (exemplars) and stores
// exemplars; its targets are compose services.
func TestPrometheusConfig(t *testing.T) {
	c := loadCompose(t)
	mountOf(t, c, "prometheus", "./configs/prometheus.yml")
	var cfg struct {
		ScrapeConfigs []struct {
			JobName         string   `yaml:"job_name"`
			HonorLabels     bool     `yaml:"honor_labels"`
			ScrapeProtocols []string `yaml:"scrape_protocols"`
			StaticConfigs   []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "configs/prometheus.yml", &cfg)
	if len(cfg.ScrapeConfigs) == 0 {
		t.Fatal("no scrape configuration")
	}
	for _, sc := range cfg.ScrapeConfigs {
		if !sc.HonorLabels {
			t.Errorf("job %s: honor_labels is not true: every replica's series would take the collector's instance label", sc.JobName)
		}
		if len(sc.ScrapeProtocols) == 0 || !strings.HasPrefix(sc.ScrapeProtocols[0], "OpenMetricsText") {
			t.Errorf("job %s: scrape_protocols %v, want OpenMetrics first (exemplars)", sc.JobName, sc.ScrapeProtocols)
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, _ := strings.Cut(target, ":")
				if _, ok := c.Services[host]; !ok || !hasPort(c, host, port) {
					t.Errorf("job %s scrapes %s, which compose does not run", sc.JobName, target)
				}
			}
		}
	}
	if cmd := strings.Join(commandOf(c, "prometheus"), " "); !strings.Contains(cmd, "--enable-feature=exemplar-storage") ||
		!strings.Contains(cmd, "--config.file=/etc/prometheus/prometheus.yml") {
		t.Errorf("prometheus command %q: want the mounted configuration and exemplar storage", cmd)
	}
}

func commandOf(c composeFile, service string) []string {
	switch cmd := c.Services[service].Command.(type) {
	case string:
		return strings.Fields(cmd)
	case []any:
		var out []string
		for _, a := range cmd {
			s, _ := a.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// TestGrafanaProvisioning: Grafana gets both data sources (Prometheus with
// exemplars linked to Jaeger, Jaeger), at the addresses compose gives
// them, and the dashboard, from where its provider looks.
func TestGrafanaProvisioning(t *testing.T) {
	c := loadCompose(t)
	provisioning := mountOf(t, c, "grafana", "./configs/grafana/provisioning")
	if provisioning != "/etc/grafana/provisioning" {
		t.Errorf("provisioning mounted at %s, Grafana reads /etc/grafana/provisioning", provisioning)
	}
	var ds struct {
		Datasources []struct {
			Name, Type, UID, URL string
			JSONData             struct {
				Exemplars []struct {
					Name          string `yaml:"name"`
					DatasourceUID string `yaml:"datasourceUid"`
				} `yaml:"exemplarTraceIdDestinations"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, "configs/grafana/provisioning/datasources/datasources.yaml", &ds)
	byType := map[string]int{}
	for i, d := range ds.Datasources {
		byType[d.Type] = i
	}
	pi, okP := byType["prometheus"]
	ji, okJ := byType["jaeger"]
	if !okP || !okJ {
		t.Fatalf("data sources %+v: want prometheus and jaeger", ds.Datasources)
	}
	prom, jaeger := ds.Datasources[pi], ds.Datasources[ji]
	for _, d := range []struct{ url, service, port string }{
		{prom.URL, "prometheus", "9090"}, {jaeger.URL, "jaeger", "16686"},
	} {
		if d.url != "http://"+d.service+":"+d.port || !hasPort(c, d.service, d.port) {
			t.Errorf("data source URL %q: want http://%s:%s, a port compose runs", d.url, d.service, d.port)
		}
	}
	if len(prom.JSONData.Exemplars) != 1 || prom.JSONData.Exemplars[0].Name != "trace_id" || prom.JSONData.Exemplars[0].DatasourceUID != jaeger.UID || jaeger.UID == "" {
		t.Errorf("Prometheus exemplars %+v: want trace_id linked to the Jaeger data source (uid %q)", prom.JSONData.Exemplars, jaeger.UID)
	}

	var dp struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "configs/grafana/provisioning/dashboards/dashboards.yaml", &dp)
	dashboard := mountOf(t, c, "grafana", "./configs/grafana/apikeys.json")
	if len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || filepath.Dir(dashboard) != dp.Providers[0].Options.Path {
		t.Errorf("dashboard provider %+v does not read %s, where compose mounts the dashboard", dp.Providers, dashboard)
	}
	if home := c.Services["grafana"].Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" && home != dashboard {
		t.Errorf("home dashboard %s is not the mounted dashboard %s", home, dashboard)
	}
	raw, err := os.ReadFile(filepath.Join(root, "configs/grafana/apikeys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(raw) {
		t.Error("configs/grafana/apikeys.json is not valid JSON (app's TestGrafanaDashboard checks its queries)")
	}
}
