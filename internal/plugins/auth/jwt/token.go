package jwt

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/wire"
)

// maxTokenBytes bounds the work one Authorization header can cause. Large
// identity-provider tokens with many group claims stay well below it.
const maxTokenBytes = 16 << 10

// ErrInvalidToken is wrapped by every error Authenticate returns for a
// bearer token that is present but not acceptable. The auth phase answers
// it with 401.
var ErrInvalidToken = errors.New("invalid bearer token")

// tokenError is a fixed reason for refusing a token. The reasons are
// package-level values so that refusals allocate nothing and can never
// carry text taken from the token.
type tokenError struct{ reason string }

func (e *tokenError) Error() string        { return "invalid bearer token: " + e.reason }
func (e *tokenError) Is(target error) bool { return target == ErrInvalidToken }

var (
	errMalformed      = &tokenError{"malformed"}
	errAmbiguous      = &tokenError{"more than one Authorization header"}
	errCritical       = &tokenError{"unsupported critical header"}
	errAlgorithm      = &tokenError{"algorithm not accepted"}
	errSignature      = &tokenError{"signature does not verify"}
	errNoKey          = &tokenError{"no key fits the token's kid and alg"}
	errUnknownKey     = &tokenError{"unknown signing key"}
	errNoKeysYet      = &tokenError{"signing keys not available yet"}
	errMissingClaim   = &tokenError{"a required claim (exp, iss or aud) is missing"}
	errExpired        = &tokenError{"expired"}
	errNotYetValid    = &tokenError{"not valid yet"}
	errIssuedInFuture = &tokenError{"issued in the future"}
	errIssuer         = &tokenError{"wrong issuer"}
	errAudience       = &tokenError{"wrong audience"}
	errClaims         = &tokenError{"invalid claims"}
)

// bearer extracts the token of "Authorization: Bearer <token>" (RFC 6750,
// section 2.1; the scheme is case-insensitive per RFC 9110, section 11.1).
// present is false when no Authorization header uses the Bearer scheme.
// Two Authorization headers with a bearer among them are refused: which
// one a proxy behind the gateway reads is anyone's guess.
func bearer(h http.Header) (tok string, present bool, err error) {
	vals := h["Authorization"]
	for _, v := range vals {
		scheme, rest := wire.CutAuthScheme(v)
		if !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		if len(vals) > 1 {
			return "", true, errAmbiguous
		}
		tok = rest
		if !wellFormed(tok) {
			return "", true, errMalformed
		}
		return tok, true, nil
	}
	return "", false, nil
}

// wellFormed checks a compact JWS's shape before any decoding: three
// non-empty base64url segments. An empty signature is what alg "none"
// produces, so such tokens stop here.
func wellFormed(tok string) bool {
	if len(tok) == 0 || len(tok) > maxTokenBytes {
		return false
	}
	dots, seg := 0, 0
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case c == '.':
			if seg == 0 {
				return false
			}
			dots, seg = dots+1, 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		seg++
	}
	return dots == 2 && seg > 0
}

// formatClaim renders a claim for a header: strings as they are, numbers
// in their JSON text, booleans as true/false, arrays as their formatted
// elements joined by ",", and objects as compact JSON. null is absent.
func formatClaim(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := formatClaim(e); ok {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ","), true
	case map[string]any:
		b, err := json.Marshal(v)
		if err != nil {
			return "", false
		}
		return string(b), true
	}
	return "", false
}

// validHeaderValue reports whether s may be sent as a header value: no
// control characters but tab (RFC 9110, section 5.5), so a claim can never
// split a header.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
