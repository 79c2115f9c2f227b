package app

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthURL(t *testing.T) {
	cases := []struct {
		addr  string
		ready bool
		want  string
	}{
		{"0.0.0.0:8080", false, "http://127.0.0.1:8080/healthz"},
		{":8080", true, "http://127.0.0.1:8080/readyz"},
		{"[::]:9000", false, "http://[::1]:9000/healthz"},
		{"127.0.0.1:8081", false, "http://127.0.0.1:8081/healthz"},
		{"apikeys.internal:80", true, "http://apikeys.internal:80/readyz"},
	}
	for _, tc := range cases {
		got, err := healthURL(tc.addr, tc.ready)
		if err != nil || got != tc.want {
			t.Errorf("healthURL(%q, %v) = %q, %v; want %q", tc.addr, tc.ready, got, err, tc.want)
		}
	}
	if _, err := healthURL("nonsense", false); err == nil {
		t.Error("healthURL accepted an address without a port")
	}
}

// TestHealthcheckCommand runs the command against a stand-in service
// that is alive but not ready.
func TestHealthcheckCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	load := func() (Config, error) {
		cfg := Defaults()
		cfg.HTTP.Addr = "0.0.0.0:" + port
		return cfg, nil
	}
	run := func(args ...string) (string, error) {
		cmd := newHealthcheckCommand(load)
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(context.Background())
		return out.String(), err
	}
	if out, err := run(); err != nil || !strings.Contains(out, "200") {
		t.Errorf("healthcheck on a live service: %q, %v", out, err)
	}
	if _, err := run("--ready"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("healthcheck --ready on an unready service: %v, want an error naming 503", err)
	}
	srv.Close()
	if _, err := run(); err == nil {
		t.Error("healthcheck succeeded with nothing listening")
	}
}
