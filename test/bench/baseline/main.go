// Command baseline serves the benchmarks' reference programs, chosen by
// -mode:
//
//   - ceiling (default): the ceiling (package ceiling), a bare gin handler
//     answering a constant JSON body to GET /api/v1/auth/verify with
//     X-API-Key;
//   - upstream: the test API of the gateway scenarios, answering
//     GET /api/v1/triggers with a constant JSON list;
//   - proxy: a bare net/http/httputil.ReverseProxy to -upstream, with the
//     keep-alive pool of apikeys' gateway mode: what gateway mode is
//     measured against.
//
// It prints "listening on <addr>" once it accepts connections and stops
// on SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/agentauri/apikeys/test/bench/ceiling"
)

// Triggers is the upstream's answer to GET /api/v1/triggers.
var triggers = []byte(`[{"id":"trg_1","name":"New block","chain":"ethereum"},{"id":"trg_2","name":"Large transfer","chain":"ethereum"}]`)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	mode := flag.String("mode", "ceiling", "ceiling, upstream or proxy")
	upstream := flag.String("upstream", "", "the proxy's upstream URL")
	flag.Parse()
	var h http.Handler
	switch *mode {
	case "ceiling":
		h = ceiling.Handler()
	case "upstream":
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" {
				_, _ = w.Write([]byte(`{"status":"ok"}`))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(triggers)
		})
	case "proxy":
		u, err := url.Parse(*upstream)
		if err != nil || u.Host == "" {
			log.Fatalf("-upstream: %q: %v", *upstream, err)
		}
		// The transport of apikeys' gateway mode, at its defaults.
		t := &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     90 * time.Second, ResponseHeaderTimeout: 30 * time.Second,
		}
		h = &httputil.ReverseProxy{Transport: t, Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		}}
	default:
		log.Fatalf("-mode: %q is not ceiling, upstream or proxy", *mode)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The service's default server timeouts.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
		<-stop
		_ = srv.Close()
	}()
	fmt.Println("listening on", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
