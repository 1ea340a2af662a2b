package session

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// CSRFHeader is the request header a write must carry the session's CSRF
// token in.
const CSRFHeader = "X-CSRF-Token"

// Defaults of Options.
const (
	DefaultIdle   = 30 * time.Minute
	DefaultMaxAge = 12 * time.Hour
	DefaultMax    = 10000
)

// Options configure a Store.
type Options struct {
	// Cookie is the cookie's name, such as "gantry_admin_session".
	Cookie string
	// Path is the cookie's path. Default "/".
	Path string
	// Idle ends a session not used for this long. Default DefaultIdle.
	Idle time.Duration
	// MaxAge ends a session this long after sign-in, used or not. Default
	// DefaultMaxAge.
	MaxAge time.Duration
	// Max is how many sessions are held at once; signing in beyond it ends
	// the session used longest ago. Default DefaultMax.
	Max int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Session is one signed-in browser.
type Session struct {
	// Subject is who signed in, as the caller named it at Create.
	Subject string
	// Credential says what Subject signed in with (such as an API key's
	// id), when the caller named it at CreateWith; never a secret.
	Credential string
	// CSRF is the token writes must echo in CSRFHeader.
	CSRF string
	// Created is the sign-in time; Expires when the session ends unless
	// used again (the earlier of the idle timeout and the maximum age).
	Created, Expires time.Time

	id       string
	lastUsed time.Time
}

// Store holds sessions in memory. It is safe for concurrent use.
type Store struct {
	o  Options
	mu sync.Mutex
	// byHash maps the SHA-256 of a session id to its session, so lookups
	// never compare the secret itself.
	byHash map[[32]byte]*Session
}

// New returns an empty store.
func New(o Options) *Store {
	if o.Path == "" {
		o.Path = "/"
	}
	if o.Idle <= 0 {
		o.Idle = DefaultIdle
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Max <= 0 {
		o.Max = DefaultMax
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{o: o, byHash: map[[32]byte]*Session{}}
}

// Create starts a session for subject and sets its cookie on w: HttpOnly,
// SameSite=Strict, and Secure when r came over TLS.
func (s *Store) Create(w http.ResponseWriter, r *http.Request, subject string) (Session, error) {
	return s.CreateWith(w, r, subject, "")
}

// CreateWith is Create for a subject that signed in with credential (an
// id, not a secret), kept as the session's Credential.
func (s *Store) CreateWith(w http.ResponseWriter, r *http.Request, subject, credential string) (Session, error) {
	id, err := randomToken()
	if err != nil {
		return Session{}, err
	}
	csrf, err := randomToken()
	if err != nil {
		return Session{}, err
	}
	now := s.o.Now()
	ss := &Session{Subject: subject, Credential: credential, CSRF: csrf, Created: now, id: id, lastUsed: now}
	ss.Expires = s.expires(ss)
	s.mu.Lock()
	s.sweep(now)
	if len(s.byHash) >= s.o.Max {
		s.evictOldest()
	}
	s.byHash[sha256.Sum256([]byte(id))] = ss
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: s.o.Cookie, Value: id, Path: s.o.Path,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	return *ss, nil
}

// Get returns the session r's cookie names, if it is live, and counts r as
// a use of it.
func (s *Store) Get(r *http.Request) (Session, bool) {
	c, err := r.Cookie(s.o.Cookie)
	if err != nil || c.Value == "" {
		return Session{}, false
	}
	h := sha256.Sum256([]byte(c.Value))
	now := s.o.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.byHash[h]
	if !ok {
		return Session{}, false
	}
	if !now.Before(ss.Expires) {
		delete(s.byHash, h)
		return Session{}, false
	}
	ss.lastUsed = now
	ss.Expires = s.expires(ss)
	return *ss, true
}

// Delete ends the session r's cookie names, if any, and clears the cookie
// on w.
func (s *Store) Delete(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(s.o.Cookie); err == nil {
		s.mu.Lock()
		delete(s.byHash, sha256.Sum256([]byte(c.Value)))
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{
		Name: s.o.Cookie, Value: "", Path: s.o.Path, MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// DeleteSubject ends every session of subject, as when the credential it
// signed in with is revoked.
func (s *Store) DeleteSubject(subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, ss := range s.byHash {
		if ss.Subject == subject {
			delete(s.byHash, h)
		}
	}
}

// DeleteCredential ends every session of subject that signed in with
// credential, as when that key is revoked.
func (s *Store) DeleteCredential(subject, credential string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, ss := range s.byHash {
		if ss.Subject == subject && ss.Credential == credential {
			delete(s.byHash, h)
		}
	}
}

// Len returns the number of sessions held, expired ones not yet swept
// included.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byHash)
}

// Check reports whether r carries ss's CSRF token in CSRFHeader, compared
// in constant time.
func Check(ss Session, r *http.Request) bool {
	got := r.Header.Get(CSRFHeader)
	return got != "" && ss.CSRF != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.CSRF)) == 1
}

func (s *Store) expires(ss *Session) time.Time {
	idle := ss.lastUsed.Add(s.o.Idle)
	if limit := ss.Created.Add(s.o.MaxAge); limit.Before(idle) {
		return limit
	}
	return idle
}

// sweep drops expired sessions; s.mu is held.
func (s *Store) sweep(now time.Time) {
	for h, ss := range s.byHash {
		if !now.Before(ss.Expires) {
			delete(s.byHash, h)
		}
	}
}

// evictOldest drops the session used longest ago; s.mu is held.
func (s *Store) evictOldest() {
	var oldest [32]byte
	var at time.Time
	first := true
	for h, ss := range s.byHash {
		if first || ss.lastUsed.Before(at) {
			oldest, at, first = h, ss.lastUsed, false
		}
	}
	if !first {
		delete(s.byHash, oldest)
	}
}

// randomToken returns 32 random bytes, base64url-encoded.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
