package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/store"
)

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

// noSubjects maps no subject: the resolver of JWT providers a validation
// builds, which never serve.
type noSubjects struct{}

func (noSubjects) BySubject(provider, subject string) (*pipeline.Consumer, bool) { return nil, false }

// unopenedStore stands for the storage `gantry validate` does not open:
// plan builds the key authenticator against it and never calls it, and a
// validated plan is never activated. Any call would panic.
type unopenedStore struct{ store.Store }

// configByID indexes the config file's consumers by id.
func configByID(cfg *config.Config) map[string]*pipeline.Consumer {
	m := map[string]*pipeline.Consumer{}
	for _, c := range cfg.Consumers {
		m[c.ID] = &pipeline.Consumer{ID: c.ID, Plan: c.Plan, Groups: c.Groups}
	}
	return m
}

// certConsumers maps client certificates' consumer ids (the mtls method)
// to the consumers of the generation serving now, then to storage's
// (consumers made through the admin API). Storage answers are kept for
// certConsumerTTL, found or not, so a busy client does not cost a
// storage read per request; a consumer deleted through the admin API may
// thus keep authenticating for up to that long. It is safe for concurrent
// use.
type certConsumers struct {
	s *Server

	mu    sync.Mutex
	cache map[string]certConsumer
}

type certConsumer struct {
	c       *pipeline.Consumer
	expires time.Time
}

const (
	certConsumerTTL   = 10 * time.Second
	certConsumerLimit = 10000
)

func (r *certConsumers) ByID(ctx context.Context, id string) (*pipeline.Consumer, bool, error) {
	if g := r.s.gen.Load(); g != nil {
		if c, ok := g.byID[id]; ok {
			return c, true, nil
		}
	}
	if r.s.store == nil {
		return nil, false, nil
	}
	now := time.Now()
	r.mu.Lock()
	e, ok := r.cache[id]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.c, e.c != nil, nil
	}
	sc, err := r.s.store.GetConsumer(ctx, id)
	var c *pipeline.Consumer
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, false, err
	default:
		c = &pipeline.Consumer{ID: sc.ID, Plan: sc.Plan, Groups: sc.Groups}
	}
	r.mu.Lock()
	if r.cache == nil || len(r.cache) >= certConsumerLimit {
		r.cache = map[string]certConsumer{}
	}
	r.cache[id] = certConsumer{c: c, expires: now.Add(certConsumerTTL)}
	r.mu.Unlock()
	return c, c != nil, nil
}

// ErrNoConsumer is VerifyJWT's answer for a valid token whose subject
// names no consumer, or that no provider in the list accepts.
var ErrNoConsumer = errors.New("the token names no consumer")

// VerifyJWT checks token with the serving generation's auth.jwt providers
// named in providers (portal.jwt), exactly as a route checks a bearer
// token, and returns the consumer its subject names. The first provider
// that accepts the token decides.
func (s *Server) VerifyJWT(ctx context.Context, providers []string, token string) (*pipeline.Consumer, error) {
	g := s.gen.Load()
	if g == nil {
		return nil, ErrNoConsumer
	}
	var last error = ErrNoConsumer
	for _, name := range providers {
		p := g.auth.JWT(name)
		if p == nil {
			continue
		}
		r, err := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
		if err != nil {
			return nil, err
		}
		r.Header.Set("Authorization", "Bearer "+token)
		cons, _, ok, err := p.Authenticate(r)
		switch {
		case err != nil:
			last = err
		case ok && cons != nil && cons.ID != "":
			return cons, nil
		}
	}
	return nil, last
}
