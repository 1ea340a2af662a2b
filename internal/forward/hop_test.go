package forward

import (
	"github.com/gantry-dev/gantry/internal/wire"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestRemoveHopByHop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   http.Header
		want []string // the names left
	}{
		{"end to end only", http.Header{"Content-Type": {"a"}, "Date": {"b"}}, []string{"Content-Type", "Date"}},
		{"every hop-by-hop name", http.Header{
			"Connection": {"close"}, "Proxy-Connection": {"x"}, "Keep-Alive": {"x"}, "Proxy-Authenticate": {"x"},
			"Proxy-Authorization": {"x"}, "Te": {"x"}, "Trailer": {"x"}, "Transfer-Encoding": {"x"}, "Upgrade": {"x"},
			"Content-Length": {"3"},
		}, []string{"Content-Length"}},
		{"named in Connection", http.Header{"Connection": {"X-Secret, x-other ,", "keep-alive"}, "X-Secret": {"1"}, "X-Other": {"2"}, "X-Kept": {"3"}},
			[]string{"X-Kept"}},
		{"empty", http.Header{}, nil},
	}
	for _, tt := range tests {
		RemoveHopByHop(tt.in)
		if got := slices.Sorted(maps.Keys(tt.in)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: RemoveHopByHop left %q, want %q", tt.name, got, tt.want)
		}
	}
}

// removeHopByHopEach is RemoveHopByHop as it was written before the one
// walk: a delete per hop-by-hop name.
func removeHopByHopEach(h http.Header) {
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				delete(h, http.CanonicalHeaderKey(f))
			}
		}
	}
	for _, k := range []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		delete(h, k)
	}
}

// FuzzRemoveHopByHop: the one walk leaves what a delete per name leaves.
func FuzzRemoveHopByHop(f *testing.F) {
	f.Add("Keep-Alive", "Te, x-a", "X-A", "Upgrade")
	f.Add("Content-Type", "", "Trailer", "connection")
	f.Fuzz(func(t *testing.T, k1, conn, k2, k3 string) {
		h := http.Header{}
		for _, k := range []string{k1, k2, k3} {
			h[http.CanonicalHeaderKey(k)] = []string{"v"}
		}
		if conn != "" {
			h["Connection"] = []string{conn}
		}
		want := h.Clone()
		removeHopByHopEach(want)
		RemoveHopByHop(h)
		if got, w := slices.Sorted(maps.Keys(h)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
			t.Fatalf("RemoveHopByHop left %q, a delete per name leaves %q", got, w)
		}
	})
}

// mergeResponseSteps is what MergeResponse stands for: RemoveHopByHop,
// DropGatewayOwned, then a copy that appends.
func mergeResponseSteps(dst, res http.Header) {
	RemoveHopByHop(res)
	DropGatewayOwned(dst, res)
	for k, vv := range res {
		dst[k] = append(dst[k], vv...)
	}
}

func TestMergeResponse(t *testing.T) {
	tests := []struct {
		name     string
		dst, res http.Header
		want     http.Header
	}{
		{
			name: "end-to-end fields go, hop-by-hop stay out",
			dst:  http.Header{"X-Request-Id": {"gw"}},
			res: http.Header{"Content-Type": {"a/b"}, "Keep-Alive": {"5"}, "Te": {"x"}, "Trailer": {"X"},
				"Transfer-Encoding": {"chunked"}, "Upgrade": {"ws"}, "Proxy-Connection": {"x"},
				"Proxy-Authenticate": {"x"}, "Proxy-Authorization": {"x"}},
			want: http.Header{"X-Request-Id": {"gw"}, "Content-Type": {"a/b"}},
		},
		{
			name: "the gateway's request ID wins",
			dst:  http.Header{"X-Request-Id": {"gw"}},
			res:  http.Header{"X-Request-Id": {"up"}, "Date": {"d"}},
			want: http.Header{"X-Request-Id": {"gw"}, "Date": {"d"}},
		},
		{
			name: "an upstream's request ID goes when the gateway set none",
			dst:  http.Header{},
			res:  http.Header{"X-Request-Id": {"up"}},
			want: http.Header{"X-Request-Id": {"up"}},
		},
		{
			name: "the gateway's RateLimit fields win, all three",
			dst:  http.Header{"Ratelimit-Limit": {"10"}, "Ratelimit-Remaining": {"9"}, "Ratelimit-Reset": {"1"}},
			res:  http.Header{"Ratelimit-Limit": {"5"}, "Ratelimit-Remaining": {"4"}, "Ratelimit-Reset": {"2"}},
			want: http.Header{"Ratelimit-Limit": {"10"}, "Ratelimit-Remaining": {"9"}, "Ratelimit-Reset": {"1"}},
		},
		{
			name: "an upstream's RateLimit fields go when the gateway set none",
			dst:  http.Header{},
			res:  http.Header{"Ratelimit-Limit": {"5"}, "Ratelimit-Remaining": {"4"}, "Ratelimit-Reset": {"2"}},
			want: http.Header{"Ratelimit-Limit": {"5"}, "Ratelimit-Remaining": {"4"}, "Ratelimit-Reset": {"2"}},
		},
		{
			name: "values append to the client's",
			dst:  http.Header{"Vary": {"Origin"}},
			res:  http.Header{"Vary": {"Accept"}},
			want: http.Header{"Vary": {"Origin", "Accept"}},
		},
		{
			name: "what Connection names stays out, in any case",
			dst:  http.Header{"X-Request-Id": {"gw"}},
			res:  http.Header{"Connection": {"x-a, keep-alive", "X-B"}, "X-A": {"1"}, "X-B": {"2"}, "Date": {"d"}},
			want: http.Header{"X-Request-Id": {"gw"}, "Date": {"d"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resBefore := tt.res.Clone()
			MergeResponse(tt.dst, tt.res)
			if !reflect.DeepEqual(tt.res, resBefore) {
				t.Errorf("res changed to %q", tt.res)
			}
			if !reflect.DeepEqual(tt.dst, tt.want) {
				t.Errorf("MergeResponse left dst %q, want %q", tt.dst, tt.want)
			}
		})
	}
}

// TestMergeResponseCapsShared: a value slice shared with res is capped,
// so an append to the client's header cannot write into the upstream's.
func TestMergeResponseCapsShared(t *testing.T) {
	vals := make([]string, 1, 4)
	vals[0] = "a"
	res := http.Header{"X-A": vals}
	dst := http.Header{}
	MergeResponse(dst, res)
	dst["X-A"] = append(dst["X-A"], "b")
	if got := vals[:2][1]; got != "" {
		t.Fatalf("append through the client's header wrote %q into the upstream's", got)
	}
}

// FuzzMergeResponse: the one walk leaves in dst what the three steps
// leave, with a Connection field too, and res as it was.
func FuzzMergeResponse(f *testing.F) {
	f.Add("X-Request-Id", "Ratelimit-Limit", "Keep-Alive", "Ratelimit-Remaining", "Date", "")
	f.Add("Ratelimit-Reset", "Vary", "Ratelimit-Limit", "Vary", "Te", "x")
	f.Add("Content-Type", "X-A", "Upgrade", "X-A", "Trailer", "X-A")
	f.Fuzz(func(t *testing.T, d1, d2, r1, r2, r3, conn string) {
		dst := http.Header{}
		for i, k := range []string{d1, d2} {
			dst[http.CanonicalHeaderKey(k)] = []string{"gw" + strconv.Itoa(i)}
		}
		res := http.Header{}
		for i, k := range []string{r1, r2, r3} {
			k = http.CanonicalHeaderKey(k)
			res[k] = append(res[k], "up"+strconv.Itoa(i))
		}
		if conn != "" {
			res["Connection"] = []string{conn}
		}
		wantDst, wantRes := dst.Clone(), res.Clone()
		mergeResponseSteps(wantDst, wantRes)
		resBefore := res.Clone()
		MergeResponse(dst, res)
		if !reflect.DeepEqual(res, resBefore) {
			t.Fatalf("res changed: %q, was %q", res, resBefore)
		}
		if !reflect.DeepEqual(dst, wantDst) {
			t.Fatalf("MergeResponse left dst %q; the three steps leave %q", dst, wantDst)
		}
	})
}

// TestOwned: the names only the gateway sets are owned in any case, and
// others are not, whatever byte they end with.
func TestOwned(t *testing.T) {
	for _, k := range []string{"X-Consumer-Id", "X-Consumer-Groups", "X-Real-Ip", "Proxy-Authorization",
		"X-Client-Cert-Subject", "X-Client-Cert-Fingerprint"} {
		for _, v := range []string{k, strings.ToLower(k), strings.ToUpper(k)} {
			if !owned(v) {
				t.Errorf("owned(%q) = false", v)
			}
		}
	}
	for _, k := range []string{"", "X-Api-Key", "Authorization", "Cache-Control", "X-Consumer-I",
		"X-Consumer-Ip", "X-Real-Id", "Proxy-Authorizatiom", "X-Client-Cert-Subjecs", "Content-Type", "t", "D"} {
		if owned(k) {
			t.Errorf("owned(%q) = true", k)
		}
	}
	h := http.Header{"X-Real-Ip": {"1"}, "x-consumer-groups": {"g"}, "X-Api-Key": {"k"}}
	StripOwned(h)
	if len(h) != 1 || h["X-Api-Key"] == nil {
		t.Errorf("StripOwned left %q", h)
	}
}

// FuzzMergeFields: a header as a list merges as MergeResponse merges the
// same header as a map, Connection and what it names included: the fields
// KeepFields keeps, added to dst with wire.AddList, make what
// MergeResponse makes. KeepFields only reads dst, and AddList neither
// changes the list nor lets a later append to dst write into it.
func FuzzMergeFields(f *testing.F) {
	f.Add("X-Request-Id", "Ratelimit-Limit", "Keep-Alive", "Ratelimit-Remaining", "Vary", "Vary", false)
	f.Add("Ratelimit-Reset", "Vary", "Ratelimit-Limit", "X-A", "Connection", "X-A", true)
	f.Fuzz(func(t *testing.T, d1, d2, r1, r2, r3, r4 string, gwLimit bool) {
		dst := http.Header{}
		for i, k := range []string{d1, d2} {
			dst[http.CanonicalHeaderKey(k)] = []string{"gw" + strconv.Itoa(i)}
		}
		if gwLimit {
			dst["Ratelimit-Limit"] = []string{"10"}
		}
		var list []string
		res := http.Header{}
		names := []string{r1, r2, r3, r4}
		for i, k := range names {
			k = http.CanonicalHeaderKey(k)
			v := "up" + strconv.Itoa(i)
			if k == "Connection" {
				// It names the next field, in lower case.
				v = strings.ToLower(names[(i+1)%len(names)])
			}
			list = append(list, k, v)
			res[k] = append(res[k], v)
		}
		wantDst := dst.Clone()
		MergeResponse(wantDst, res)
		before := dst.Clone()
		kept := KeepFields(dst, list)
		if !reflect.DeepEqual(dst, before) {
			t.Fatalf("KeepFields changed dst: %q, was %q", dst, before)
		}
		keptBefore := slices.Clone(kept)
		wire.AddList(dst, kept)
		if !slices.Equal(kept, keptBefore) {
			t.Fatalf("list changed: %q, was %q", kept, keptBefore)
		}
		if !reflect.DeepEqual(dst, wantDst) {
			t.Fatalf("KeepFields kept %q, making %q; MergeResponse %q", kept, dst, wantDst)
		}
		for k := range dst {
			dst[k] = append(dst[k], "later")
		}
		if !slices.Equal(kept, keptBefore) {
			t.Fatalf("an append to dst wrote into the list: %q, was %q", kept, keptBefore)
		}
	})
}
