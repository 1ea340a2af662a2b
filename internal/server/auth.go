package server

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/plugins/auth"
	"github.com/gantry-dev/gantry/internal/plugins/auth/jwt"
	"github.com/gantry-dev/gantry/internal/plugins/auth/keyauth"
	"github.com/gantry-dev/gantry/internal/store"
)

// authRegistry keeps authentication methods across reloads: a JWT provider
// holds fetched keys and a refresh loop, the key authenticator a warm cache,
// and neither should start cold because an unrelated route changed. A
// method is rebuilt only when its own configuration changes.
type authRegistry struct {
	ctx   context.Context
	store store.Store
	s     *Server

	// Every method alive, in use by the serving generation or just built
	// for the next; retain closes the rest.
	mu   sync.Mutex
	keys map[*keyauth.Authenticator]config.APIKeyAuth
	jwts map[*jwt.Provider]config.JWT
}

func newAuthRegistry(ctx context.Context, st store.Store, s *Server) *authRegistry {
	return &authRegistry{ctx: ctx, store: st, s: s, keys: map[*keyauth.Authenticator]config.APIKeyAuth{}, jwts: map[*jwt.Provider]config.JWT{}}
}

// authSet is what one generation uses; kept to close what the next one
// drops.
type authSet struct {
	keys *keyauth.Authenticator
	jwts map[string]*jwt.Provider
}

// methods returns the route's authentication methods, building or reusing
// them. Building does I/O (JWKS, storage), so validation-only compiles pass
// dry=true and get none.
func (a *authRegistry) methods(cfg *config.Config, rc *config.Route, set *authSet) ([]auth.Method, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []auth.Method
	for _, m := range rc.Auth {
		switch {
		case m == "api_key":
			k, err := a.keyAuth(cfg)
			if err != nil {
				return nil, err
			}
			set.keys = k
			out = append(out, keyMethod{k})
		case strings.HasPrefix(m, "jwt:"):
			name := strings.TrimPrefix(m, "jwt:")
			p, err := a.jwt(cfg, name)
			if err != nil {
				return nil, err
			}
			set.jwts[name] = p
			out = append(out, jwtMethod{p})
		default:
			return nil, fmt.Errorf("unknown auth method %q", m)
		}
	}
	return out, nil
}

func (a *authRegistry) keyAuth(cfg *config.Config) (*keyauth.Authenticator, error) {
	if a.store == nil {
		return nil, fmt.Errorf("api_key authentication needs storage")
	}
	want := config.APIKeyAuth{Header: "X-API-Key"}
	if cfg.Auth.APIKey != nil {
		want = *cfg.Auth.APIKey
	}
	for k, c := range a.keys {
		if c == want {
			return k, nil
		}
	}
	k, err := keyauth.New(a.ctx, keyauth.Options{Header: want.Header, Query: want.Query, Store: a.store, Logger: a.s.log})
	if err != nil {
		return nil, err
	}
	a.keys[k] = want
	return k, nil
}

func (a *authRegistry) jwt(cfg *config.Config, name string) (*jwt.Provider, error) {
	var jc *config.JWT
	for _, j := range cfg.Auth.JWT {
		if j.Name == name {
			jc = j
		}
	}
	if jc == nil {
		return nil, fmt.Errorf("no jwt provider %q", name)
	}
	for p, c := range a.jwts {
		if reflect.DeepEqual(c, *jc) {
			return p, nil
		}
	}
	p, err := jwt.New(a.ctx, jc, subjectResolver{a.s}, jwt.Options{Logger: a.s.log})
	if err != nil {
		return nil, err
	}
	a.jwts[p] = *jc
	return p, nil
}

// retain closes every method that set (the serving generation's) does not
// use: those a new generation dropped, or those built for a generation that
// failed to compile.
func (a *authRegistry) retain(set *authSet) {
	a.mu.Lock()
	defer a.mu.Unlock()
	keep := map[*jwt.Provider]bool{}
	for _, p := range set.jwts {
		keep[p] = true
	}
	for p := range a.jwts {
		if !keep[p] {
			p.Close()
			delete(a.jwts, p)
		}
	}
	for k := range a.keys {
		if k != set.keys {
			k.Close()
			delete(a.keys, k)
		}
	}
}

func (a *authRegistry) close() { a.retain(&authSet{}) }

// keyCreated tells the key caches a key was just created.
func (a *authRegistry) keyCreated(hash []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range a.keys {
		k.Forget(hash)
	}
}

// keyMethod adapts the key authenticator to auth.Method.
type keyMethod struct{ k *keyauth.Authenticator }

func (m keyMethod) Authenticate(r *http.Request) (*pipeline.Consumer, [][2]string, bool, error) {
	c, ok, err := m.k.Authenticate(r)
	return c, nil, ok, err
}

func (m keyMethod) Challenge() string { return m.k.Challenge() }

func (keyMethod) Credential() auth.Credential { return auth.APIKey }

// jwtMethod adapts a JWT provider to auth.Method.
type jwtMethod struct{ *jwt.Provider }

func (jwtMethod) Credential() auth.Credential { return auth.Bearer }

// subjectResolver maps JWT subjects to the consumers of the generation
// serving now, so a reused provider sees consumer changes at once.
type subjectResolver struct{ s *Server }

func (r subjectResolver) BySubject(provider, subject string) (*pipeline.Consumer, bool) {
	g := r.s.gen.Load()
	if g == nil {
		return nil, false
	}
	c, ok := g.subjects[subject]
	return c, ok
}

// configSubjects indexes the config file's consumers by JWT subject.
func configSubjects(cfg *config.Config) map[string]*pipeline.Consumer {
	m := map[string]*pipeline.Consumer{}
	for _, c := range cfg.Consumers {
		pc := &pipeline.Consumer{ID: c.ID, Plan: c.Plan, Groups: c.Groups}
		for _, s := range c.JWTSubjects {
			m[s] = pc
		}
	}
	return m
}
