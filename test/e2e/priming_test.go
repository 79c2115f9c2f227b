package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// argon2Runs reads the Argon2id computations a server has made from its
// debug listener's expvar counters.
func argon2Runs(t *testing.T, debugAddr string) int {
	t.Helper()
	resp, err := http.Get("http://" + debugAddr + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var vars struct {
		APIKeys struct {
			Computations int `json:"argon2id_computations"`
		} `json:"apikeys"`
	}
	if err := json.Unmarshal(b, &vars); err != nil {
		t.Fatalf("debug vars: %v: %s", err, b)
	}
	return vars.APIKeys.Computations
}

// TestIssuedSecretsCostNoArgon2 checks that the instance that creates or
// rotates a key, which knows the new secret, answers its first uses from
// its cache: no Argon2id beyond the one hash of the new secret, so that
// rotating clients hand no Argon2id work to the verification path. Another
// instance proves the secret once.
func TestIssuedSecretsCostNoArgon2(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, e env) {
		dir := t.TempDir()
		debugA, debugB := freePort(t), freePort(t)
		a := startIn(t, e, dir, "APIKEYS_DEBUG_ADDR="+debugA)
		tok := a.token("user_1", "org_123")
		r := a.do("POST", "/api/v1/api-keys", `{"name":"primed","organization_id":"org_123","scopes":["events:read"]}`, jsonBearer(tok)...)
		want(t, r, 201)
		id, secret := r.json(t)["id"].(string), r.json(t)["key"].(string)
		if n := argon2Runs(t, debugA); n != 1 {
			t.Fatalf("Argon2id runs after one creation: %d, want 1 (the hash)", n)
		}
		for range 5 {
			want(t, a.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret), 200)
		}
		r = a.do("POST", "/api/v1/api-keys/"+id+"/rotate", "", bearer(tok)...)
		want(t, r, 200)
		rotated := r.json(t)["key"].(string)
		for range 10 {
			want(t, a.do("GET", "/api/v1/auth/verify", "", "X-API-Key", rotated), 200)
		}
		want(t, a.do("GET", "/api/v1/auth/verify", "", "X-API-Key", secret), 401)
		if n := argon2Runs(t, debugA); n != 2 {
			t.Errorf("Argon2id runs after a creation, a rotation and 16 verifications: %d, want 2 (the two hashes)", n)
		}

		b := startIn(t, e, dir, "APIKEYS_DEBUG_ADDR="+debugB)
		for range 3 {
			want(t, b.do("GET", "/api/v1/auth/verify", "", "X-API-Key", rotated), 200)
		}
		if n := argon2Runs(t, debugB); n != 1 {
			t.Errorf("another instance ran Argon2id %d times for one key, want 1", n)
		}
	})
}
