package auth

import (
	"errors"
	"net/http"
	"slices"

	"github.com/gantry-dev/gantry/internal/pipeline"
)

// Name is the plugin's name in configuration.
const Name = "auth"

// Method is one way to authenticate: an API key or a JWT provider.
type Method interface {
	// Authenticate returns ok=false with no error when r carries no
	// credentials of this kind, the consumer when they are valid, and an
	// error when they are present but invalid. fwd are request headers to
	// set for the upstream (forwarded JWT claims); they may be shared
	// between requests (the JWT token cache), so callers only read them.
	Authenticate(r *http.Request) (c *pipeline.Consumer, fwd [][2]string, ok bool, err error)
	// Challenge is this method's WWW-Authenticate value.
	Challenge() string
}

// Config is a route's authentication: any one method suffices.
type Config struct {
	Methods     []Method
	AllowGroups []string
	// Strip lists request headers the gateway sets from credentials
	// (forwarded JWT claims): a client's own copies are removed first, so
	// none can reach the upstream when the claim is absent or another
	// method authenticated.
	Strip []string
}

// New returns the middleware. It authenticates before the body is read, so
// a client sending "Expect: 100-continue" with bad credentials gets 401
// without 100.
func New(c Config) pipeline.Middleware {
	challenges := make([]string, 0, len(c.Methods))
	for _, m := range c.Methods {
		challenges = append(challenges, m.Challenge())
	}
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			x := pipeline.ExchangeOf(r)
			for _, h := range c.Strip {
				r.Header.Del(h)
			}
			cons, fwd, err := authenticate(r, c.Methods)
			if err != nil {
				var he *pipeline.HTTPError
				if errors.As(err, &he) && he.Status != http.StatusUnauthorized {
					return err
				}
				msg := "invalid credentials"
				if errors.Is(err, errNoCredentials) {
					msg = "credentials required"
				}
				e := pipeline.Errorf(http.StatusUnauthorized, pipeline.CodeUnauthorized, "%s", msg)
				e.Header = http.Header{"Www-Authenticate": challenges}
				return e
			}
			if len(c.AllowGroups) > 0 && !inGroups(cons, c.AllowGroups) {
				x.Consumer = cons
				return pipeline.Errorf(http.StatusForbidden, pipeline.CodeForbidden, "consumer is not allowed on this route")
			}
			for _, kv := range fwd {
				r.Header.Set(kv[0], kv[1])
			}
			x.Consumer = cons
			return next.ServeHTTP(w, r)
		})
	}
}

var errNoCredentials = errors.New("no credentials")

// authenticate tries each method in order. Credentials of one kind that are
// invalid fail the request even when another method would find none: a
// wrong key is not an anonymous call.
func authenticate(r *http.Request, methods []Method) (*pipeline.Consumer, [][2]string, error) {
	var firstErr error
	for _, m := range methods {
		c, fwd, ok, err := m.Authenticate(r)
		if err != nil {
			var he *pipeline.HTTPError
			if errors.As(err, &he) && he.Status >= 500 {
				return nil, nil, err
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if ok {
			return c, fwd, nil
		}
	}
	if firstErr != nil {
		return nil, nil, firstErr
	}
	return nil, nil, errNoCredentials
}

func inGroups(c *pipeline.Consumer, allowed []string) bool {
	if c == nil || c.ID == "" {
		return false
	}
	for _, g := range c.Groups {
		if slices.Contains(allowed, g) {
			return true
		}
	}
	return false
}
