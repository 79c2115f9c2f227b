package argon2id

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// fastParams keep tests quick; they pass Validate.
var fastParams = Params{Memory: MinMemory, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const secret = "sk_test_4eC39HqLyjWDarjtT1zdp7dcAbCd12"

func newHasher(t testing.TB, p Params, max int) *Hasher {
	t.Helper()
	h, err := New(p, max)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

func TestDefaultParams(t *testing.T) {
	p := DefaultParams()
	want := Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	if p != want {
		t.Fatalf("DefaultParams() = %+v, want %+v", p, want)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("DefaultParams().Validate() = %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Params)
		field string // "" means valid
	}{
		{"default", func(*Params) {}, ""},
		{"minimums", func(p *Params) {
			*p = Params{Memory: MinMemory, Time: MinTime, Threads: 1, SaltLen: MinSaltLen, KeyLen: MinKeyLen}
		}, ""},
		{"memory too low", func(p *Params) { p.Memory = MinMemory - 1 }, "Memory"},
		{"memory too high", func(p *Params) { p.Memory = MaxMemory + 1 }, "Memory"},
		{"memory below 8 KiB per thread", func(p *Params) { p.Memory, p.Threads = 1024, 255 }, "Memory"},
		{"no threads", func(p *Params) { p.Threads = 0 }, "Threads"},
		{"no time", func(p *Params) { p.Time = 0 }, "Time"},
		{"too much time", func(p *Params) { p.Time = MaxTime + 1 }, "Time"},
		{"short salt", func(p *Params) { p.SaltLen = MinSaltLen - 1 }, "SaltLen"},
		{"long salt", func(p *Params) { p.SaltLen = MaxSaltLen + 1 }, "SaltLen"},
		{"short key", func(p *Params) { p.KeyLen = MinKeyLen - 1 }, "KeyLen"},
		{"long key", func(p *Params) { p.KeyLen = MaxKeyLen + 1 }, "KeyLen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultParams()
			tt.edit(&p)
			err := p.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.field)
			}
			if _, err := New(p, 1); err == nil {
				t.Fatal("New accepted invalid params")
			}
		})
	}
}

func TestNewMaxConcurrentDefault(t *testing.T) {
	h := newHasher(t, fastParams, 0)
	if h.MaxConcurrent() < 1 {
		t.Fatalf("MaxConcurrent() = %d", h.MaxConcurrent())
	}
	if h := newHasher(t, fastParams, 3); h.MaxConcurrent() != 3 {
		t.Fatalf("MaxConcurrent() = %d, want 3", h.MaxConcurrent())
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, fastParams, 2)
	enc, err := h.Hash(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := h.Compare(ctx, secret, enc)
	if err != nil || !ok {
		t.Fatalf("Compare(right secret) = %v, %v; want true, nil", ok, err)
	}
	ok, err = h.Compare(ctx, secret[:len(secret)-1]+"X", enc)
	if err != nil || ok {
		t.Fatalf("Compare(wrong secret) = %v, %v; want false, nil", ok, err)
	}
	ok, err = h.Compare(ctx, "", enc)
	if err != nil || ok {
		t.Fatalf("Compare(empty secret) = %v, %v; want false, nil", ok, err)
	}
	enc2, err := h.Hash(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if enc == enc2 {
		t.Fatal("two hashes of the same secret are equal: salt not random")
	}
	if got := h.Computations(); got != 5 {
		t.Fatalf("Computations() = %d, want 5", got)
	}
	if got := h.InFlight(); got != 0 {
		t.Fatalf("InFlight() = %d after all calls returned", got)
	}
}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestPHCFormat(t *testing.T) {
	h := newHasher(t, DefaultParams(), 1)
	enc, err := h.Hash(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	if !phcRE.MatchString(enc) {
		t.Fatalf("Hash() = %q, does not match %s", enc, phcRE)
	}
	if strings.Contains(enc, secret) {
		t.Fatal("encoding contains the secret")
	}
	p, salt, key, err := decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if p != DefaultParams() || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("decode = %+v, salt %d bytes, key %d bytes", p, len(salt), len(key))
	}
}

// TestKnownAnswer checks a PHC string built from an Argon2id test vector of
// golang.org/x/crypto/argon2 (password "password", salt "somesalt").
func TestKnownAnswer(t *testing.T) {
	raw, _ := hex.DecodeString("145db9733a9f4ee43edf33c509be96b934d505a4efb33c5a")
	enc := "$argon2id$v=19$m=4096,t=4,p=4$" + base64.RawStdEncoding.EncodeToString([]byte("somesalt")) +
		"$" + base64.RawStdEncoding.EncodeToString(raw)
	h := newHasher(t, fastParams, 1)
	ok, err := h.Compare(context.Background(), "password", enc)
	if err != nil || !ok {
		t.Fatalf("Compare(test vector) = %v, %v; want true, nil", ok, err)
	}
	ok, err = h.Compare(context.Background(), "Password", enc)
	if err != nil || ok {
		t.Fatalf("Compare(wrong password) = %v, %v; want false, nil", ok, err)
	}
}

func TestParamChangeStillVerifies(t *testing.T) {
	ctx := context.Background()
	old := newHasher(t, fastParams, 1)
	enc, err := old.Hash(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	newer := newHasher(t, Params{Memory: MinMemory + 1024, Time: 2, Threads: 2, SaltLen: 24, KeyLen: 48}, 1)
	ok, err := newer.Compare(ctx, secret, enc)
	if err != nil || !ok {
		t.Fatalf("Compare(old hash) = %v, %v; want true, nil", ok, err)
	}
	if !newer.NeedsRehash(enc) {
		t.Fatal("NeedsRehash(old hash) = false after a parameter change")
	}
	if old.NeedsRehash(enc) {
		t.Fatal("NeedsRehash(current hash) = true")
	}
	enc2, err := newer.Hash(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc2, "$argon2id$v=19$m=9216,t=2,p=2$") {
		t.Fatalf("Hash() = %q", enc2)
	}
	if newer.NeedsRehash(enc2) {
		t.Fatal("NeedsRehash(new hash) = true")
	}
	if !newer.NeedsRehash("garbage") {
		t.Fatal("NeedsRehash(garbage) = false")
	}
	// Only the salt length differs.
	p := fastParams
	p.SaltLen = 32
	if !newHasher(t, p, 1).NeedsRehash(enc) {
		t.Fatal("NeedsRehash ignores the salt length")
	}
}

func TestMalformed(t *testing.T) {
	h := newHasher(t, fastParams, 1)
	good, err := h.Hash(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(good, "$") // "", argon2id, v=19, m=..., salt, hash
	join := func(parts ...string) string { return strings.Join(parts, "$") }
	salt, hash := f[4], f[5]
	bad := map[string]string{
		"empty":             "",
		"garbage":           "not a hash",
		"bcrypt":            "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":           join("", "argon2i", "v=19", "m=1024,t=1,p=1", salt, hash),
		"no version":        join("", "argon2id", "m=1024,t=1,p=1", salt, hash),
		"version 16":        join("", "argon2id", "v=16", "m=1024,t=1,p=1", salt, hash),
		"extra field":       good + "$x",
		"no leading $":      strings.TrimPrefix(good, "$"),
		"params reordered":  join("", "argon2id", "v=19", "t=1,m=1024,p=1", salt, hash),
		"params missing":    join("", "argon2id", "v=19", "m=1024,t=1", salt, hash),
		"param empty":       join("", "argon2id", "v=19", "m=,t=1,p=1", salt, hash),
		"param signed":      join("", "argon2id", "v=19", "m=+1024,t=1,p=1", salt, hash),
		"param negative":    join("", "argon2id", "v=19", "m=1024,t=-1,p=1", salt, hash),
		"param leading 0":   join("", "argon2id", "v=19", "m=01024,t=1,p=1", salt, hash),
		"param hex":         join("", "argon2id", "v=19", "m=0x400,t=1,p=1", salt, hash),
		"p zero":            join("", "argon2id", "v=19", "m=1024,t=1,p=0", salt, hash),
		"p overflow":        join("", "argon2id", "v=19", "m=1024,t=1,p=256", salt, hash),
		"t zero":            join("", "argon2id", "v=19", "m=1024,t=0,p=1", salt, hash),
		"t absurd":          join("", "argon2id", "v=19", "m=1024,t=101,p=1", salt, hash),
		"m absurd":          join("", "argon2id", "v=19", "m=4194305,t=1,p=1", salt, hash),
		"m overflow":        join("", "argon2id", "v=19", "m=4294967296,t=1,p=1", salt, hash),
		"m below 8/thread":  join("", "argon2id", "v=19", "m=8,t=1,p=2", salt, hash),
		"salt not base64":   join("", "argon2id", "v=19", "m=1024,t=1,p=1", "!!!!", hash),
		"salt padded":       join("", "argon2id", "v=19", "m=1024,t=1,p=1", salt+"==", hash),
		"salt url alphabet": join("", "argon2id", "v=19", "m=1024,t=1,p=1", strings.Repeat("_", 22), hash),
		"salt short":        join("", "argon2id", "v=19", "m=1024,t=1,p=1", "c2FsdA", hash),
		"salt huge":         join("", "argon2id", "v=19", "m=1024,t=1,p=1", strings.Repeat("A", 2000), hash),
		"hash short":        join("", "argon2id", "v=19", "m=1024,t=1,p=1", salt, hash[:16]),
		"hash huge":         join("", "argon2id", "v=19", "m=1024,t=1,p=1", salt, strings.Repeat("A", 1400)),
		"hash empty":        join("", "argon2id", "v=19", "m=1024,t=1,p=1", salt, ""),
	}
	for name, enc := range bad {
		t.Run(name, func(t *testing.T) {
			before := h.Computations()
			ok, err := h.Compare(context.Background(), secret, enc)
			if ok || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Compare = %v, %v; want false, ErrMalformed", ok, err)
			}
			if enc != "" && strings.Contains(err.Error(), enc) {
				t.Fatalf("error %q quotes the encoding", err)
			}
			if h.Computations() != before {
				t.Fatal("Argon2 ran for a malformed encoding")
			}
		})
	}
}

// TestStoredBounds checks the bounds Compare puts on a stored hash at
// their edges: a hash made by another implementation with parameters
// exactly at a bound verifies, one step past it is ErrMalformed.
func TestStoredBounds(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, fastParams, 1)
	// stored returns the PHC string of secret made with m, t, p and a salt
	// and hash of the given lengths.
	stored := func(m, tm uint32, p uint8, saltLen, keyLen int) string {
		salt := []byte(strings.Repeat("s", saltLen))
		return encode(Params{Memory: m, Time: tm, Threads: p}, salt, argon2.IDKey([]byte(secret), salt, tm, m, p, uint32(keyLen)))
	}
	for name, enc := range map[string]string{
		"salt of MinSaltLen": stored(8, 1, 1, MinSaltLen, 32),
		"salt of MaxSaltLen": stored(8, 1, 1, MaxSaltLen, 32),
		"hash of MinKeyLen":  stored(8, 1, 1, 16, MinKeyLen),
		"hash of MaxKeyLen":  stored(8, 1, 1, 16, MaxKeyLen),
		"m of 8 per thread":  stored(16, 1, 2, 16, 32),
		"t of maxStoredTime": stored(8, maxStoredTime, 1, 16, 32),
		"m of MaxMemory":     strings.Replace(stored(8, 1, 1, 16, 32), "m=8,", fmt.Sprintf("m=%d,", MaxMemory), 1),
	} {
		t.Run(name, func(t *testing.T) {
			if name == "m of MaxMemory" {
				// Parsing is what is under test: 4 GiB is not computed.
				if _, _, _, err := decode(enc); err != nil {
					t.Fatalf("decode = %v", err)
				}
				return
			}
			if ok, err := h.Compare(ctx, secret, enc); err != nil || !ok {
				t.Fatalf("Compare = %v, %v; want true, nil", ok, err)
			}
		})
	}
	for name, enc := range map[string]string{
		"salt past MaxSaltLen":  stored(8, 1, 1, MaxSaltLen+1, 32),
		"salt below MinSaltLen": stored(8, 1, 1, MinSaltLen-1, 32),
		"hash past MaxKeyLen":   stored(8, 1, 1, 16, MaxKeyLen+1),
		"hash below MinKeyLen":  stored(8, 1, 1, 16, MinKeyLen-1),
		"m below 8 per thread":  strings.Replace(stored(16, 1, 2, 16, 32), "m=16,", "m=15,", 1),
		"t past maxStoredTime":  strings.Replace(stored(8, 1, 1, 16, 32), ",t=1,", fmt.Sprintf(",t=%d,", maxStoredTime+1), 1),
		"m past MaxMemory":      strings.Replace(stored(8, 1, 1, 16, 32), "m=8,", fmt.Sprintf("m=%d,", MaxMemory+1), 1),
	} {
		t.Run(name, func(t *testing.T) {
			if ok, err := h.Compare(ctx, secret, enc); ok || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Compare = %v, %v; want false, ErrMalformed", ok, err)
			}
		})
	}
}

func TestTampered(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, fastParams, 1)
	good, err := h.Hash(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(good, "$")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	cases := map[string]string{
		"hash first char": strings.Join([]string{"", f[1], f[2], f[3], f[4], flip(f[5], 0)}, "$"),
		"salt first char": strings.Join([]string{"", f[1], f[2], f[3], flip(f[4], 0), f[5]}, "$"),
		"time changed":    strings.Replace(good, ",t=1,", ",t=2,", 1),
		"memory changed":  strings.Replace(good, fmt.Sprintf("m=%d,", MinMemory), fmt.Sprintf("m=%d,", MinMemory+1), 1),
	}
	for name, enc := range cases {
		t.Run(name, func(t *testing.T) {
			ok, err := h.Compare(ctx, secret, enc)
			if err != nil || ok {
				t.Fatalf("Compare(tampered) = %v, %v; want false, nil", ok, err)
			}
		})
	}
	// The last character of an unpadded base64 string carries unused bits;
	// the strict decoder refuses a change to them instead of ignoring it.
	last := f[5][len(f[5])-1]
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef" {
		if byte(c) == last {
			continue
		}
		enc := good[:len(good)-1] + string(c)
		ok, err := h.Compare(ctx, secret, enc)
		if ok {
			t.Fatalf("Compare accepted the hash with its last character changed to %c (err %v)", c, err)
		}
	}
}

func TestBoundedConcurrency(t *testing.T) {
	const max, callers = 3, 24
	h := newHasher(t, fastParams, max)
	var inside, peak atomic.Int64
	h.testHook = func() {
		n := inside.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if in := h.InFlight(); in > max {
			t.Errorf("InFlight() = %d > %d", in, max)
		}
		time.Sleep(5 * time.Millisecond) // let the others pile up
		inside.Add(-1)
	}
	enc, err := h.Hash(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = h.Hash(context.Background(), secret)
			} else {
				var ok bool
				ok, err = h.Compare(context.Background(), secret, enc)
				if !ok && err == nil {
					t.Error("Compare = false")
				}
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > max {
		t.Fatalf("peak concurrent computations = %d, want ≤ %d", p, max)
	} else if got := h.PeakInFlight(); got < int(p) || got > max {
		t.Fatalf("PeakInFlight() = %d, want between the observed peak %d and %d", got, p, max)
	} else if p < 2 {
		t.Logf("peak concurrency only %d (slow machine?)", p)
	}
	if got := h.Computations(); got != callers+1 {
		t.Fatalf("Computations() = %d, want %d", got, callers+1)
	}
	if h.InFlight() != 0 {
		t.Fatalf("InFlight() = %d after all calls returned", h.InFlight())
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	h := newHasher(t, fastParams, 1)
	enc, err := h.Hash(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.testHook = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	holder := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), secret)
		holder <- err
	}()
	<-entered // the only slot is now taken

	ctx, cancel := context.WithCancel(context.Background())
	waiter := make(chan error, 1)
	go func() {
		_, err := h.Compare(ctx, secret, enc)
		waiter <- err
	}()
	select {
	case err := <-waiter:
		t.Fatalf("Compare returned %v while the pool was full", err)
	case <-time.After(30 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-waiter:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Compare after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Compare did not return after its context was cancelled")
	}

	// A deadline works the same way, for Hash too.
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer dcancel()
	if _, err := h.Hash(dctx, secret); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hash with expiring deadline = %v, want DeadlineExceeded", err)
	}

	close(release)
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	if got := h.Computations(); got != 2 {
		t.Fatalf("Computations() = %d, want 2 (abandoned calls do not compute)", got)
	}
}

func TestCancelledContextNeverComputes(t *testing.T) {
	h := newHasher(t, fastParams, 4)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, secret); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash(cancelled ctx) = %v", err)
	}
	if h.Computations() != 0 {
		t.Fatal("Argon2 ran under a cancelled context")
	}
}

type recordingObserver struct {
	mu  sync.Mutex
	ops []string
}

func (o *recordingObserver) ObserveHash(op string, wait, dur time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if wait < 0 || dur <= 0 {
		op += "(bad durations)"
	}
	o.ops = append(o.ops, op)
}

func TestObserver(t *testing.T) {
	base := newHasher(t, fastParams, 1)
	obs := &recordingObserver{}
	h := base.WithObserver(obs)
	ctx := context.Background()
	enc, err := h.Hash(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Compare(ctx, secret, enc); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Compare(ctx, secret, "malformed"); err == nil {
		t.Fatal("want error")
	}
	if _, err := base.Compare(ctx, secret, enc); err != nil { // base reports nothing
		t.Fatal(err)
	}
	if got := strings.Join(obs.ops, ","); got != "hash,verify" {
		t.Fatalf("observed %q, want \"hash,verify\"", got)
	}
	if base.Computations() != 3 || h.Computations() != 3 {
		t.Fatalf("copies do not share counters: %d, %d", base.Computations(), h.Computations())
	}
	if h.MaxConcurrent() != base.MaxConcurrent() {
		t.Fatal("copies do not share the pool")
	}
}

func BenchmarkHash(b *testing.B) {
	h := newHasher(b, DefaultParams(), 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, secret); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompare(b *testing.B) {
	h := newHasher(b, DefaultParams(), 0)
	ctx := context.Background()
	enc, err := h.Hash(ctx, secret)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := h.Compare(ctx, secret, enc); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkHashParallel shows throughput with the pool at its default size.
func BenchmarkHashParallel(b *testing.B) {
	h := newHasher(b, DefaultParams(), 0)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Hash(ctx, secret); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
