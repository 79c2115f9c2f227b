package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/agentauri/apikeys/core/apikey"
)

// load describes one attack: a closed loop of workers, each sending its
// next request as soon as the previous one is answered.
type load struct {
	workers int
	dur     time.Duration // 0: until the targeter runs out of targets
	want    int           // the status a request is expected to get
	target  func() vegeta.Targeter
	// onResult, if set, sees every result of the measured phase (from
	// the one goroutine reading them).
	onResult func(*vegeta.Result)
}

// outcome summarizes an attack.
type outcome struct {
	Requests uint64
	OK       uint64 // answered with the wanted status
	Bad      uint64 // any other status or a transport error
	Elapsed  time.Duration
	Rate     float64 // OK answers per second
	P50, P99 time.Duration
	Max      time.Duration
	Errors   []string // a few distinct failures
}

// attack runs l once and summarizes it.
func attack(l load) outcome {
	atk := vegeta.NewAttacker(
		vegeta.Workers(uint64(l.workers)), vegeta.MaxWorkers(uint64(l.workers)),
		vegeta.Connections(l.workers), vegeta.KeepAlive(true), vegeta.Timeout(60*time.Second),
		vegeta.Redirects(vegeta.NoFollow),
	)
	var m vegeta.Metrics
	var o outcome
	seen := map[string]bool{}
	start := time.Now()
	// Rate 0 with MaxWorkers: as fast as the workers go.
	for r := range atk.Attack(l.target(), vegeta.Rate{Freq: 0}, l.dur, "") {
		if r.Error == vegeta.ErrNoTargets.Error() {
			continue // the targeter ran out: not a request
		}
		m.Add(r)
		if int(r.Code) == l.want {
			o.OK++
		} else {
			o.Bad++
			msg := r.Error
			if msg == "" {
				msg = fmt.Sprintf("status %d", r.Code)
			}
			if !seen[msg] && len(seen) < 5 {
				seen[msg] = true
				o.Errors = append(o.Errors, msg)
			}
		}
		if l.onResult != nil {
			l.onResult(r)
		}
	}
	o.Elapsed = time.Since(start)
	m.Close()
	o.Requests = m.Requests
	if o.Elapsed > 0 {
		o.Rate = float64(o.OK) / o.Elapsed.Seconds()
	}
	o.P50, o.P99, o.Max = m.Latencies.P50, m.Latencies.P99, m.Latencies.Max
	sort.Strings(o.Errors)
	return o
}

// cycle returns a targeter that sends GET url with each secret in turn,
// forever, or once each when once is set.
func cycle(url string, secrets []string, once bool) func() vegeta.Targeter {
	return func() vegeta.Targeter {
		var next atomic.Uint64
		return func(t *vegeta.Target) error {
			i := next.Add(1) - 1
			if once && i >= uint64(len(secrets)) {
				return vegeta.ErrNoTargets
			}
			t.Method, t.URL = http.MethodGet, url
			t.Header = http.Header{"X-Api-Key": []string{secrets[i%uint64(len(secrets))]}}
			return nil
		}
	}
}

// randomKeys returns a targeter that sends GET url with a fresh random
// secret each time: well formed, with a valid checksum, matching no key.
func randomKeys(url string) func() vegeta.Targeter {
	return func() vegeta.Targeter {
		return func(t *vegeta.Target) error {
			s, err := apikey.Generate(rand.Reader, apikey.EnvTest)
			if err != nil {
				return err
			}
			t.Method, t.URL = http.MethodGet, url
			t.Header = http.Header{"X-Api-Key": []string{s}}
			return nil
		}
	}
}

// badChecksums returns n well-formed secrets whose checksum is wrong.
func badChecksums(n int) ([]string, error) {
	out := make([]string, 0, n)
	for len(out) < n {
		s, err := apikey.Generate(rand.Reader, apikey.EnvTest)
		if err != nil {
			return nil, err
		}
		// Rotate the checksum's characters: still base62, almost never
		// the right checksum (Parse says which).
		c := []byte(s[len(s)-apikey.ChecksumLen:])
		c = append(c[1:], c[0])
		bad := s[:len(s)-apikey.ChecksumLen] + string(c)
		if _, err := apikey.Parse(bad); errors.Is(err, apikey.ErrChecksum) {
			out = append(out, bad)
		}
	}
	return out, nil
}

// requests returns a targeter that sends each of reqs once.
func requests(reqs []vegeta.Target) func() vegeta.Targeter {
	return func() vegeta.Targeter {
		var next atomic.Uint64
		return func(t *vegeta.Target) error {
			i := next.Add(1) - 1
			if i >= uint64(len(reqs)) {
				return vegeta.ErrNoTargets
			}
			*t = reqs[i]
			return nil
		}
	}
}

// repeat returns a targeter that sends t forever.
func repeat(t vegeta.Target) func() vegeta.Targeter {
	return func() vegeta.Targeter {
		return func(out *vegeta.Target) error {
			*out = t
			out.Header = t.Header.Clone()
			return nil
		}
	}
}

// jsonTarget is a request with a JSON body and a bearer token.
func jsonTarget(method, url, token string, body []byte) vegeta.Target {
	h := http.Header{"Authorization": []string{"Bearer " + token}}
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	return vegeta.Target{Method: method, URL: url, Body: bytes.Clone(body), Header: h}
}
