package server

import (
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
