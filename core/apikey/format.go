package apikey

import (
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

// Environment says whether a key is for testing or production traffic.
type Environment string

// The two environments; each has its own key prefix.
const (
	EnvTest Environment = "test"
	EnvLive Environment = "live"
)

// ParseEnvironment returns the environment named s ("test" or "live").
func ParseEnvironment(s string) (Environment, error) {
	switch Environment(s) {
	case EnvTest, EnvLive:
		return Environment(s), nil
	}
	return "", fmt.Errorf("unknown environment %q (want \"test\" or \"live\")", s)
}

// Prefix returns the secret prefix of the environment, e.g. "sk_test_".
func (e Environment) Prefix() string { return "sk_" + string(e) + "_" }

const (
	// BodyLen is the number of characters after the prefix.
	BodyLen = 32
	// ChecksumLen is how many of the body's characters are the checksum.
	ChecksumLen = 6
	randomLen   = BodyLen - ChecksumLen
	alphabet    = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// ScannerRegex matches an apikeys secret in text; secret scanners should use it.
// The last six characters are a checksum, so a scanner can also confirm a
// match with Parse and ignore look-alikes.
const ScannerRegex = `\bsk_(?:test|live)_[0-9A-Za-z]{32}\b`

// Generate returns a new secret for env: the prefix, 26 random base62
// characters drawn from entropy (about 154 bits), and a 6-character
// checksum (base62 of the CRC-32 of everything before it).
func Generate(entropy io.Reader, env Environment) (string, error) {
	if _, err := ParseEnvironment(string(env)); err != nil {
		return "", err
	}
	body, err := randomString(entropy, randomLen)
	if err != nil {
		return "", err
	}
	head := env.Prefix() + body
	return head + checksum(head), nil
}

// RandomString returns n characters drawn uniformly from the base62
// alphabet using entropy; ids are made with it.
func RandomString(entropy io.Reader, n int) (string, error) {
	return randomString(entropy, n)
}

func randomString(entropy io.Reader, n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		if _, err := io.ReadFull(entropy, buf); err != nil {
			return "", fmt.Errorf("read entropy: %w", err)
		}
		for _, b := range buf {
			// 248 = 4*62: rejecting larger bytes keeps the draw uniform.
			if b < 248 && len(out) < n {
				out = append(out, alphabet[b%62])
			}
		}
	}
	return string(out), nil
}

func checksum(head string) string {
	v := crc32.ChecksumIEEE([]byte(head))
	var out [ChecksumLen]byte
	for i := ChecksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[v%62]
		v /= 62
	}
	return string(out[:])
}

// Parse checks a presented secret's shape and checksum without touching any
// store, and returns its environment. It returns ErrMissingKey for an empty
// string, ErrMalformedKey for a wrong prefix, length or alphabet, and
// ErrChecksum when the checksum does not match.
func Parse(secret string) (Environment, error) {
	if secret == "" {
		return "", ErrMissingKey
	}
	var env Environment
	switch {
	case strings.HasPrefix(secret, "sk_test_"):
		env = EnvTest
	case strings.HasPrefix(secret, "sk_live_"):
		env = EnvLive
	default:
		return "", ErrMalformedKey
	}
	body := secret[len("sk_test_"):]
	if len(body) != BodyLen {
		return "", ErrMalformedKey
	}
	for i := 0; i < len(body); i++ {
		if !isBase62(body[i]) {
			return "", ErrMalformedKey
		}
	}
	cut := len(secret) - ChecksumLen
	if checksum(secret[:cut]) != secret[cut:] {
		return "", ErrChecksum
	}
	return env, nil
}

func isBase62(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
}

// Hint returns a display form of a secret that identifies it to a person
// without revealing it: the prefix, an ellipsis and the last four characters.
func Hint(secret string) string {
	if len(secret) < 12 {
		return ""
	}
	i := strings.LastIndexByte(secret[:len(secret)-4], '_')
	if i < 0 {
		return ""
	}
	return secret[:i+1] + "…" + secret[len(secret)-4:]
}
