package app

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DevSecretsFile is where development secrets are kept, under data_dir.
const DevSecretsFile = "dev-secrets.json" //nolint:gosec // a file name, not a credential

type devSecrets struct {
	JWTSecret string `json:"jwt_secret"`
	Pepper    string `json:"pepper"`
	ChainKey  string `json:"audit_chain_key,omitempty"`
}

// devChainKeyLabel derives the audit chain key of a dev-secrets.json
// written before the file held one.
const devChainKeyLabel = "apikeys development audit chain key"

// ResolveSecrets fills jwt.secret, security.pepper and audit.chain_key for
// development on the embedded database when they are not configured: they
// are generated once and kept in data_dir/dev-secrets.json (mode 0600), so
// tokens, keys and audit chains keep working across restarts. A file
// written before it held an audit chain key gets one derived from its
// pepper (HMAC-SHA-256 of devChainKeyLabel), the same on every start,
// rather than a rewrite that two processes starting at once could race.
// It reports whether it generated the file, so the caller can say it in
// the start-up log. Production never gets here without explicit secrets
// (Validate refuses).
func ResolveSecrets(cfg *Config) (generated bool, path string, err error) {
	if cfg.JWT.Secret != "" && cfg.Security.Pepper != "" && cfg.Audit.ChainKey != "" {
		return false, "", nil
	}
	if cfg.Production() || cfg.Storage.Driver != "sqlite" {
		if cfg.Security.Pepper != "" && cfg.Audit.ChainKey != "" && len(cfg.Auth.Issuers) > 0 {
			return false, "", nil // the HS256 issuer is off: identity providers only
		}
		return false, "", errors.New("security.pepper, audit.chain_key and jwt.secret (unless auth.issuers is set) are required")
	}
	path = filepath.Join(cfg.DataDir, DevSecretsFile)
	var s devSecrets
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &s); err != nil || !s.valid() {
			return false, path, fmt.Errorf("development secrets %s are damaged; delete the file to make new ones (keys issued with the old pepper will stop working)", path)
		}
	case errors.Is(err, fs.ErrNotExist):
		if s, err = newDevSecrets(); err != nil {
			return false, path, err
		}
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return false, path, fmt.Errorf("create data dir: %w", err)
		}
		out, _ := json.MarshalIndent(s, "", "  ") //nolint:gosec // the development secrets file (mode 0600) is where these belong
		// Write a private temporary file, then link it into place: the
		// secrets appear whole or not at all, and a concurrent first start
		// of another process keeps one set.
		tmp, err := os.CreateTemp(cfg.DataDir, ".dev-secrets-*")
		if err != nil {
			return false, path, fmt.Errorf("write development secrets: %w", err)
		}
		defer os.Remove(tmp.Name())
		if _, err := tmp.Write(append(out, '\n')); err != nil {
			tmp.Close()
			return false, path, fmt.Errorf("write development secrets: %w", err)
		}
		if err := tmp.Close(); err != nil {
			return false, path, fmt.Errorf("write development secrets: %w", err)
		}
		if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
			return ResolveSecrets(cfg)
		} else if err != nil {
			return false, path, fmt.Errorf("write development secrets: %w", err)
		}
		generated = true
	default:
		return false, path, fmt.Errorf("read development secrets: %w", err)
	}
	s.fill(cfg)
	return generated, path, nil
}

// newDevSecrets returns a fresh set of random development secrets.
func newDevSecrets() (devSecrets, error) {
	var s devSecrets
	for _, p := range []*string{&s.JWTSecret, &s.Pepper, &s.ChainKey} {
		var err error
		if *p, err = randomSecret(); err != nil {
			return devSecrets{}, err
		}
	}
	return s, nil
}

// valid reports whether s holds secrets long enough to use (a file
// written before it held an audit chain key has none).
func (s devSecrets) valid() bool {
	return len(s.JWTSecret) >= 32 && len(s.Pepper) >= 32 && (s.ChainKey == "" || len(s.ChainKey) >= 32)
}

// fill sets the secrets cfg lacks from s, deriving the audit chain key
// from the pepper when s has none.
func (s devSecrets) fill(cfg *Config) {
	if s.ChainKey == "" {
		mac := hmac.New(sha256.New, []byte(s.Pepper))
		mac.Write([]byte(devChainKeyLabel))
		s.ChainKey = base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&cfg.JWT.Secret, s.JWTSecret}, {&cfg.Security.Pepper, s.Pepper}, {&cfg.Audit.ChainKey, s.ChainKey},
	} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
}

func randomSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
