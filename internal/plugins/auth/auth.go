package auth

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/pipeline"
	"github.com/gantry-dev/gantry/internal/plugins/auth/external"
	"github.com/gantry-dev/gantry/internal/wire"
)

// Method is one way to authenticate: an API key, a JWT provider or a
// client certificate.
type Method interface {
	// Authenticate returns ok=false with no error when r carries no
	// credentials of this kind, the consumer when they are valid, and an
	// error when they are present but invalid. fwd are request headers to
	// set for the upstream (forwarded JWT claims); they may be shared
	// between requests (the JWT token cache), so callers only read them.
	Authenticate(r *http.Request) (c *pipeline.Consumer, fwd [][2]string, ok bool, err error)
	// Challenge is this method's WWW-Authenticate value.
	Challenge() string
	// Credential says which credential of a request the method reads.
	Credential() Credential
}

// Credential is a kind of credential a request may present.
type Credential uint8

const (
	// APIKey is the key in auth.api_key.header or auth.api_key.query. Its
	// method removes it from the request when it reads it, valid or not,
	// and so runs before the bearer methods: a key sent in Authorization
	// is then no bearer token.
	APIKey Credential = iota
	// Bearer is the token of "Authorization: Bearer ...". Every jwt method
	// of a route reads the same token; one of them verifying it is enough.
	Bearer
	// ClientCert is the client certificate verified at the TLS handshake
	// (the mtls method).
	ClientCert
)

// String returns the credential's name in metrics: "api_key", "jwt" or
// "mtls".
func (c Credential) String() string {
	switch c {
	case APIKey:
		return "api_key"
	case ClientCert:
		return "mtls"
	}
	return "jwt"
}

// Reasons a request fails authentication, as OnFailure reports them.
const (
	// ReasonMissing: no credential was presented (method "none").
	ReasonMissing = "missing"
	// ReasonInvalid: a credential was presented and did not verify.
	ReasonInvalid = "invalid"
	// ReasonForbidden: the consumer is not in the route's allow_groups.
	ReasonForbidden = "forbidden"
	// ReasonDenied: an external authorization service refused the
	// request (method "external").
	ReasonDenied = "denied"
)

// Gate is a check every request of a route passes, whatever credentials
// it presents: an external authorization service.
type Gate interface {
	// Check returns the decision on r, or an error (an *pipeline.HTTPError)
	// when none could be made. The decision may be shared between
	// requests: callers only read it.
	Check(r *http.Request) (*external.Decision, error)
}

// Config is a route's authentication. Every credential the request
// presents must verify with a method of the route, and at least one must
// be presented; see authenticate.
type Config struct {
	Methods     []Method
	AllowGroups []string
	// Strip lists request headers the gateway sets from credentials
	// (forwarded JWT claims): a client's own copies are removed first, so
	// none can reach the upstream when the claim is absent or another
	// method authenticated.
	Strip []string
	// OnFailure, when set, is called for every request refused with 401
	// or 403 (gantry_auth_failures_total): method is the credential that
	// failed ("api_key", "jwt"; "none" when none was presented), reason one
	// of the Reason* values. A failure to check a credential (storage down,
	// 5xx) is not an authentication failure and is not reported.
	OnFailure func(method, reason string)
	// Gates run for every request, after the credentials verified: all
	// must allow. A route with gates and no method needs no credential.
	Gates []Gate
}

// New returns the middleware. It authenticates before the body is read, so
// a client sending "Expect: 100-continue" with bad credentials gets 401
// without 100.
func New(c Config) pipeline.Middleware {
	challenges := make([]string, 0, len(c.Methods))
	for _, m := range c.Methods {
		challenges = append(challenges, m.Challenge())
	}
	// A token no method of this route verifies is never forwarded (#13):
	// the upstream may take it at its word.
	dropTokens := !verifiesBearer(c.Methods)
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			x := pipeline.ExchangeOf(r)
			StripFold(r.Header, c.Strip)
			var cons *pipeline.Consumer
			var fwd [][2]string
			var kind Credential
			var err error
			if len(c.Methods) > 0 {
				cons, fwd, kind, err = authenticate(r, c.Methods)
			}
			if err != nil {
				var he *pipeline.HTTPError
				if errors.As(err, &he) && he.Status != http.StatusUnauthorized {
					return err
				}
				msg := "invalid credentials"
				method, reason := kind.String(), ReasonInvalid
				if errors.Is(err, errNoCredentials) {
					msg = "credentials required"
					method, reason = "none", ReasonMissing
				}
				if c.OnFailure != nil {
					c.OnFailure(method, reason)
				}
				e := pipeline.Errorf(http.StatusUnauthorized, pipeline.CodeUnauthorized, "%s", msg)
				e.Header = http.Header{"Www-Authenticate": challenges}
				return e
			}
			method := kind.String()
			if len(c.Gates) > 0 {
				// The gates see the consumer the credentials named
				// (X-Consumer-Id).
				x.Consumer = cons
				var gfwd [][2]string
				var denied *external.Decision
				gfwd, cons, denied, err = checkGates(r, c.Gates, cons)
				if err != nil {
					return err
				}
				if denied != nil {
					if c.OnFailure != nil {
						c.OnFailure("external", ReasonDenied)
					}
					relay(w, denied)
					return nil
				}
				if len(c.Methods) == 0 {
					method = "external"
				}
				fwd = append(fwd[:len(fwd):len(fwd)], gfwd...)
			}
			if len(c.AllowGroups) > 0 && !inGroups(cons, c.AllowGroups) {
				if c.OnFailure != nil {
					c.OnFailure(method, ReasonForbidden)
				}
				x.Consumer = cons
				return pipeline.Errorf(http.StatusForbidden, pipeline.CodeForbidden, "consumer is not allowed on this route")
			}
			if dropTokens {
				dropBearer(r.Header)
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

// checkGates asks every gate about r, in the route's order, and stops at
// the first that refuses (denied) or cannot decide (err). The consumer is
// cons, or when cons is nil the first one a gate named.
func checkGates(r *http.Request, gates []Gate, cons *pipeline.Consumer) (fwd [][2]string, _ *pipeline.Consumer, denied *external.Decision, err error) {
	for _, g := range gates {
		d, err := g.Check(r)
		if err != nil {
			return nil, nil, nil, err
		}
		if !d.Allowed {
			return nil, nil, d, nil
		}
		fwd = append(fwd, d.Headers...)
		if cons == nil && d.Consumer != "" {
			cons = &pipeline.Consumer{ID: d.Consumer}
		}
	}
	return fwd, cons, nil, nil
}

// relay writes a gate's refusal to the client as the service answered it.
// Headers the gateway already set on the answer (X-Request-Id) keep the
// gateway's value.
func relay(w http.ResponseWriter, d *external.Decision) {
	h := w.Header()
	for k, vs := range d.Header {
		if _, ok := h[k]; ok {
			continue
		}
		// A copy: d may be cached and shared, and the recorder may edit
		// the answer's header (CORS).
		h[k] = slices.Clone(vs)
	}
	w.WriteHeader(d.Status)
	if len(d.Body) > 0 {
		_, _ = w.Write(d.Body)
	}
}

// authenticate applies the route's methods to r (#13): every credential
// presented (an API key; a bearer token; a verified client certificate)
// must verify with a method of its kind, a failure of any one fails the request however good the others
// are, and with none presented the request fails too. When several verify,
// the consumer and the forwarded claims come from the first method in the
// route's list. Key methods run first since they consume their credential.
// A presented credential whose method could not check it (storage down:
// 5xx) answers that error. kind is the credential that failed, or on
// success the one whose method the consumer comes from.
func authenticate(r *http.Request, methods []Method) (_ *pipeline.Consumer, _ [][2]string, kind Credential, _ error) {
	first := len(methods) // the first method in the list that verified
	var cons *pipeline.Consumer
	var fwd [][2]string
	var failed error
	var failedKind Credential
	for _, kind := range [...]Credential{APIKey, Bearer, ClientCert} {
		verified := false
		var kindErr error
		for i, m := range methods {
			if m.Credential() != kind || verified {
				continue
			}
			c, f, ok, err := m.Authenticate(r)
			if err != nil && kindErr == nil {
				kindErr = err
			}
			if verified = ok; ok && i < first {
				first, cons, fwd = i, c, f
			}
		}
		if verified || kindErr == nil {
			continue
		}
		var he *pipeline.HTTPError
		if errors.As(kindErr, &he) && he.Status >= 500 {
			return nil, nil, kind, kindErr
		}
		if failed == nil {
			failed, failedKind = kindErr, kind
		}
	}
	switch {
	case failed != nil:
		return nil, nil, failedKind, failed
	case first == len(methods):
		return nil, nil, 0, errNoCredentials
	}
	return cons, fwd, methods[first].Credential(), nil
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

// StripFold deletes the headers named in names from h whatever the case of
// their keys: net/http leaves some keys uncanonicalized, and a client's
// copy must not survive under one of them.
func StripFold(h http.Header, names []string) {
	if len(names) == 0 {
		return
	}
	for k := range h {
		for _, n := range names {
			if strings.EqualFold(k, n) {
				delete(h, k)
				break
			}
		}
	}
}

// verifiesBearer reports whether the route verifies bearer tokens: then a
// request that got this far either presented none or had its token
// verified.
func verifiesBearer(methods []Method) bool {
	for _, m := range methods {
		if m.Credential() == Bearer {
			return true
		}
	}
	return false
}

// dropBearer removes Authorization headers that use the Bearer scheme.
func dropBearer(h http.Header) {
	vs := h["Authorization"]
	keep := vs[:0:0]
	for _, v := range vs {
		scheme, _ := wire.CutAuthScheme(v)
		if !strings.EqualFold(scheme, "Bearer") {
			keep = append(keep, v)
		}
	}
	if len(keep) == len(vs) {
		return
	}
	if len(keep) == 0 {
		delete(h, "Authorization")
		return
	}
	h["Authorization"] = keep
}
