package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// session is one signed-in user of the console. Its id is never stored:
// the store keys sessions by the SHA-256 of the cookie value.
type session struct {
	subject       string
	organizations []string
	csrf          string
	created       time.Time
	lastSeen      time.Time
	// secrets holds the secrets of keys just created or rotated, by
	// one-time reference, until the page showing them is first served.
	secrets map[string]shownOnce
}

// shownOnce is a secret waiting for its one showing.
type shownOnce struct {
	keyID  string
	secret string
	until  time.Time
}

// secretTTL bounds how long an unshown secret waits in a session.
const secretTTL = 5 * time.Minute

// maxPendingSecrets bounds the secrets waiting in one session.
const maxPendingSecrets = 8

// sessions is a bounded in-memory session store with idle and absolute
// timeouts. It is safe for concurrent use.
type sessions struct {
	mu       sync.Mutex
	byHash   map[[sha256.Size]byte]*session
	max      int
	idle     time.Duration
	absolute time.Duration
	now      func() time.Time
}

func newSessions(max int, idle, absolute time.Duration, now func() time.Time) *sessions {
	return &sessions{byHash: map[[sha256.Size]byte]*session{}, max: max, idle: idle, absolute: absolute, now: now}
}

// randomToken returns 32 random bytes, base64url without padding.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashID(id string) [sha256.Size]byte { return sha256.Sum256([]byte(id)) }

// create starts a session for subject and returns its cookie value. When
// the store is full it drops expired sessions, then the least recently
// used one.
func (s *sessions) create(subject string, orgs []string) (string, *session) {
	now := s.now()
	id := randomToken()
	ss := &session{subject: subject, organizations: append([]string(nil), orgs...), csrf: randomToken(),
		created: now, lastSeen: now, secrets: map[string]shownOnce{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byHash) >= s.max {
		s.pruneLocked(now)
	}
	if len(s.byHash) >= s.max {
		var oldest [sha256.Size]byte
		var oldestSeen time.Time
		first := true
		for h, v := range s.byHash {
			if first || v.lastSeen.Before(oldestSeen) {
				oldest, oldestSeen, first = h, v.lastSeen, false
			}
		}
		delete(s.byHash, oldest)
	}
	s.byHash[hashID(id)] = ss
	return id, ss
}

// expired reports whether ss is past its idle or absolute timeout at now.
func (s *sessions) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.lastSeen) >= s.idle || now.Sub(ss.created) >= s.absolute
}

func (s *sessions) pruneLocked(now time.Time) {
	for h, v := range s.byHash {
		if s.expired(v, now) {
			delete(s.byHash, h)
		}
	}
}

// get returns the live session of cookie value id and marks it used; an
// expired session is deleted and not returned.
func (s *sessions) get(id string) (*session, bool) {
	if id == "" {
		return nil, false
	}
	now := s.now()
	h := hashID(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byHash[h]
	if !ok {
		return nil, false
	}
	if s.expired(ss, now) {
		delete(s.byHash, h)
		return nil, false
	}
	ss.lastSeen = now
	return ss, true
}

// delete ends the session of cookie value id.
func (s *sessions) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byHash, hashID(id))
}

// validCSRF reports whether token is the session's CSRF token.
func (ss *session) validCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(ss.csrf)) == 1
}

// keep stores a secret to show once and returns its reference.
func (s *sessions) keep(ss *session, keyID, secret string) string {
	now := s.now()
	ref := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	for r, v := range ss.secrets {
		if !now.Before(v.until) || len(ss.secrets) >= maxPendingSecrets {
			delete(ss.secrets, r)
		}
	}
	ss.secrets[ref] = shownOnce{keyID: keyID, secret: secret, until: now.Add(secretTTL)}
	return ref
}

// take returns the secret of key keyID kept under ref and forgets it: a
// secret is shown once.
func (s *sessions) take(ss *session, ref, keyID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := ss.secrets[ref]
	if !ok || v.keyID != keyID {
		return "", false
	}
	delete(ss.secrets, ref)
	if !s.now().Before(v.until) {
		return "", false
	}
	return v.secret, true
}
