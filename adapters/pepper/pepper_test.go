package pepper

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var testPepper = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

func reference(pepper []byte, secret string) string {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(secret))
	return hex.EncodeToString(m.Sum(nil))
}

func mustNew(t testing.TB, pepper []byte) *Digester {
	t.Helper()
	d, err := New(pepper)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNewRefusesShortPepper(t *testing.T) {
	for _, n := range []int{0, 1, 16, MinLen - 1} {
		p := bytes.Repeat([]byte{'x'}, n)
		if _, err := New(p); err == nil {
			t.Fatalf("New(%d-byte pepper) succeeded", n)
		} else if n > 0 && strings.Contains(err.Error(), string(p)) {
			t.Fatalf("error %q reveals the pepper", err)
		}
	}
	if _, err := New(bytes.Repeat([]byte{'x'}, MinLen)); err != nil {
		t.Fatalf("New(%d-byte pepper) = %v", MinLen, err)
	}
}

func TestKnownVector(t *testing.T) {
	// Computed independently with
	//   printf %s sk_test_abc | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
	const want = "7887af79ac7bf94077450c7c2f61005154969e5a08895b5e020364ef79a171e2"
	if got := mustNew(t, testPepper).Digest("sk_test_abc"); got != want {
		t.Fatalf("Digest = %s, want %s", got, want)
	}
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestMatchesCryptoHMAC(t *testing.T) {
	peppers := [][]byte{
		testPepper,
		bytes.Repeat([]byte{0xAB}, 64),  // exactly one SHA-256 block
		bytes.Repeat([]byte{0x01}, 100), // longer than a block: hashed first
	}
	secrets := []string{
		"", "a", "sk_test_4eC39HqLyjWDarjtT1zdp7dcAbCd12", "sk_live_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
		strings.Repeat("x", 63), strings.Repeat("x", 64), strings.Repeat("x", 65),
		strings.Repeat("long", 1000), "unicode ✓ ü", "nul\x00byte",
	}
	for i, p := range peppers {
		d := mustNew(t, p)
		for _, s := range secrets {
			for range 3 { // pooled state reused
				got := d.Digest(s)
				if want := reference(p, s); got != want {
					t.Fatalf("pepper %d, secret %.20q: Digest = %s, want %s", i, s, got, want)
				}
				if !hex64.MatchString(got) {
					t.Fatalf("Digest = %q, want 64 lowercase hex characters", got)
				}
			}
		}
	}
}

func TestPepperMatters(t *testing.T) {
	other := bytes.Clone(testPepper)
	other[0] ^= 1
	a, b := mustNew(t, testPepper), mustNew(t, other)
	if a.Digest("s") == b.Digest("s") {
		t.Fatal("two peppers give the same digest")
	}
	if a.Digest("s") == a.Digest("t") {
		t.Fatal("two secrets give the same digest")
	}
	plain := sha256.Sum256([]byte("s"))
	if a.Digest("s") == hex.EncodeToString(plain[:]) {
		t.Fatal("digest is an unkeyed SHA-256")
	}
}

func TestNewCopiesPepper(t *testing.T) {
	p := bytes.Clone(testPepper)
	d := mustNew(t, p)
	want := reference(testPepper, "secret")
	clear(p) // the caller wipes its copy
	if got := d.Digest("secret"); got != want {
		t.Fatalf("Digest after the caller cleared the pepper = %s, want %s", got, want)
	}
}

func TestConcurrent(t *testing.T) {
	d := mustNew(t, testPepper)
	const goroutines, iterations = 16, 500
	want := make([]string, 32)
	for i := range want {
		want[i] = reference(testPepper, fmt.Sprintf("sk_test_%032d", i))
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range iterations {
				k := (g + i) % len(want)
				if got := d.Digest(fmt.Sprintf("sk_test_%032d", k)); got != want[k] {
					t.Errorf("secret %d: Digest = %s, want %s", k, got, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	d := mustNew(t, testPepper)
	secret := "sk_test_4eC39HqLyjWDarjtT1zdp7dcAbCd12"
	d.Digest(secret) // warm the pool
	allocs := testing.AllocsPerRun(1000, func() { d.Digest(secret) })
	// One allocation, the returned string; a GC emptying the pool can
	// add a little.
	if allocs > 1.5 {
		t.Fatalf("Digest allocates %.1f times per call, want 1", allocs)
	}
}

func BenchmarkDigest(b *testing.B) {
	d := mustNew(b, testPepper)
	secret := "sk_test_4eC39HqLyjWDarjtT1zdp7dcAbCd12"
	b.ReportAllocs()
	for b.Loop() {
		d.Digest(secret)
	}
}

func BenchmarkDigestParallel(b *testing.B) {
	d := mustNew(b, testPepper)
	secret := "sk_test_4eC39HqLyjWDarjtT1zdp7dcAbCd12"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d.Digest(secret)
		}
	})
}

// BenchmarkNaive is the one-HMAC-per-call baseline Digest improves on.
func BenchmarkNaive(b *testing.B) {
	secret := "sk_test_4eC39HqLyjWDarjtT1zdp7dcAbCd12"
	b.ReportAllocs()
	for b.Loop() {
		reference(testPepper, secret)
	}
}

// TestPooledBufferBound checks the bound on the input buffer a pooled state
// keeps: a secret of exactly maxPooledInput bytes reuses its buffer (one
// allocation per digest, the returned string), and a longer one never
// leaves its large buffer in the pool.
func TestPooledBufferBound(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	d := mustNew(t, testPepper)
	atBound := strings.Repeat("k", maxPooledInput)
	want := reference(testPepper, atBound)
	if got := d.Digest(atBound); got != want { // grows the pooled buffer to the bound
		t.Fatalf("Digest = %s, want %s", got, want)
	}
	if allocs := testing.AllocsPerRun(200, func() { d.Digest(atBound) }); allocs > 1.5 {
		t.Fatalf("a %d-byte secret allocates %.1f times per digest: its buffer was not kept", maxPooledInput, allocs)
	}

	over := strings.Repeat("k", 4*maxPooledInput)
	if got := d.Digest(over); got != reference(testPepper, over) {
		t.Fatalf("Digest of a %d-byte secret is wrong", len(over))
	}
	// Whatever the pool hands out now, its buffer is within the bound.
	s := d.pool.Get().(*state)
	defer d.pool.Put(s)
	if cap(s.in) > maxPooledInput {
		t.Fatalf("the pool kept a %d-byte buffer, bound %d", cap(s.in), maxPooledInput)
	}
}
