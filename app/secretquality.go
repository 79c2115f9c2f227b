package app

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// generateHint is how a refusal of a secret the operator makes says to
// make a good one.
const generateHint = "generate one with: openssl rand -base64 48"

// knownPlaceholders are the example secret values the project itself ships
// or documents (docker-compose.yml, configs/, docs/, README, past versions
// of them): anyone who has read them knows these values, so production
// refuses them whatever their length. TestDocumentedSecretsAreRefused
// scans the repository's documentation and configuration files and fails
// when an example value found there is missing from this list.
var knownPlaceholders = []string{
	// docker-compose.yml before it required secrets from the environment.
	"placeholder-jwt-secret-change-me-0123456789",
	"placeholder-pepper-change-me-0123456789abc",
	"placeholder-db-password",
	"placeholder-root-password",
	// Passwords of the DSN and URL examples in docs/databases.md,
	// docs/ratelimits.md and the configs.
	"secret",
	"pw",
	"password",
	// The value of X-Key-Secret for a rotation's old secret, in README and
	// docs/audit.md.
	"previous",
}

// placeholderMarkers are words that mark a value as an example to replace,
// compared without regard to case: a value containing one is refused like
// a listed placeholder.
var placeholderMarkers = []string{"changeme", "change-me", "change_me", "placeholder", "replaceme", "replace-me", "replace_me"}

// minDistinctSecretBytes is the fewest different bytes a secret may have.
const minDistinctSecretBytes = 16

// weakSecret is the one rule of secret quality: it returns why value is a
// secret anyone could know or guess (a placeholder the project ships or
// documents, whitespace, one character or a short pattern repeated, fewer
// than 16 distinct bytes), or "" when none of that holds. Lengths are the
// settings' own rules.
func weakSecret(value string) string {
	if strings.TrimSpace(value) == "" {
		return "is only whitespace"
	}
	if why := placeholder(value); why != "" {
		return why
	}
	if p := period(value); p == 1 {
		return "is one character repeated"
	} else if p > 0 {
		return fmt.Sprintf("repeats the %d-character pattern %q", p, value[:min(p, 16)])
	}
	var seen [256]bool
	distinct := 0
	for i := 0; i < len(value); i++ {
		if !seen[value[i]] {
			seen[value[i]] = true
			distinct++
		}
	}
	if distinct < minDistinctSecretBytes {
		return fmt.Sprintf("has only %d distinct characters (at least %d needed)", distinct, minDistinctSecretBytes)
	}
	return ""
}

// placeholder returns why value is a placeholder anyone knows, or "".
func placeholder(value string) string {
	for _, p := range knownPlaceholders {
		if value == p {
			return "is a placeholder value the project ships or documents"
		}
	}
	lower := strings.ToLower(value)
	for _, m := range placeholderMarkers {
		if strings.Contains(lower, m) {
			return fmt.Sprintf("looks like a placeholder (it contains %q)", m)
		}
	}
	return ""
}

// period returns the length of the shortest pattern whose repetition
// (the last copy possibly cut short) makes s, when the pattern is at most
// half of s; 0 when there is none.
func period(s string) int {
	for p := 1; p <= len(s)/2; p++ {
		if s[p:] == s[:len(s)-p] {
			return p
		}
	}
	return 0
}

// secretSetting is one secret setting of the service that is set.
type secretSetting struct {
	key, value string
	hint       string // how to get a good value
}

// secretSettings lists the secret settings that hold a value: the ones the
// operator makes (jwt.secret, security.pepper, the audit chain keys) and
// the client secrets identity providers issue. A new secret setting belongs here, so that the
// quality and distinctness rules cover it.
func (c Config) secretSettings() []secretSetting {
	var out []secretSetting
	add := func(key, value, hint string) {
		if value != "" {
			out = append(out, secretSetting{key: key, value: value, hint: hint})
		}
	}
	add("jwt.secret", c.JWT.Secret, generateHint)
	add("security.pepper", c.Security.Pepper, generateHint)
	add("audit.chain_key", c.Audit.ChainKey, generateHint)
	for i, k := range c.Audit.PreviousChainKeys {
		add(fmt.Sprintf("audit.previous_chain_keys[%d]", i), k, generateHint)
	}
	for i, is := range c.Auth.Issuers {
		add(fmt.Sprintf("auth.issuers[%d].client_secret", i), is.ClientSecret,
			"use the client secret your identity provider generated for apikeys")
	}
	return out
}

// validateProductionSecrets refuses, in production, secrets anyone could
// know: each secret setting must pass weakSecret, no two of them may be
// equal (one leaked value must not unlock another), and the database
// password must not be a placeholder the project documents. Each refusal
// names the setting and how to get a good value.
func (c Config) validateProductionSecrets(p *problems) {
	if !c.Production() {
		return
	}
	secrets := c.secretSettings()
	for _, s := range secrets {
		if why := weakSecret(s.value); why != "" {
			p.add(s.key, "%s: anyone could know or guess it, and production refuses it; %s", why, s.hint)
		}
	}
	for i, a := range secrets {
		for _, b := range secrets[i+1:] {
			if a.value == b.value {
				p.add(b.key, "must differ from %s: each secret must be a value of its own; %s", a.key, b.hint)
			}
		}
	}
	if why := placeholder(dsnPassword(c.Storage.Driver, c.Storage.DSN)); why != "" {
		p.add("storage.dsn", "its password %s, and production refuses it; set the database user's own password (e.g. openssl rand -hex 24)", why)
	}
}

// pgPassword finds the password of a Postgres key=value DSN.
var pgPassword = regexp.MustCompile(`(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S*)`)

// dsnPassword returns the password a DSN of driver carries, "" when it
// carries none or does not parse (the store reports a DSN that does not).
func dsnPassword(driver, dsn string) string {
	switch driver {
	case "mysql":
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return ""
		}
		return cfg.Passwd
	case "postgres":
		if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
			u, err := url.Parse(dsn)
			if err != nil || u.User == nil {
				return ""
			}
			pw, _ := u.User.Password()
			return pw
		}
		if m := pgPassword.FindStringSubmatch(dsn); m != nil {
			pw := m[1]
			if strings.HasPrefix(pw, "'") {
				pw = strings.ReplaceAll(strings.ReplaceAll(strings.Trim(pw, "'"), `\'`, `'`), `\\`, `\`)
			}
			return pw
		}
	}
	return ""
}

// loopback reports whether addr (host:port) listens on a loopback address
// only: localhost, 127.0.0.0/8 or ::1. An empty host listens everywhere.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
