package server

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/telemetry"
)

// writePair writes t's test certificate and its key as PEM files in dir.
func writePair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	cert, _ := testCert(t)
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	return certFile, keyFile
}

// TestPlanReportsAtKeyPath checks that the pure plan refuses what a start
// would refuse (key files, certificates) and names the key at fault, with
// its line.
func TestPlanReportsAtKeyPath(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := writePair(t, dir, "a")
	_, keyB := writePair(t, dir, "b")
	notPEM := filepath.Join(dir, "not.pem")
	writeFile(t, notPEM, "hello\n")
	missing := filepath.Join(dir, "missing.pem")
	route := `upstreams:
  app: {targets: [{url: "http://127.0.0.1:1"}]}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
`
	srv := func(tls string) string {
		return "version: 1\nserver:\n  listen: \"127.0.0.1:0\"\n" + tls + route
	}
	tlsWith := func(cert, key string) string {
		return fmt.Sprintf("  tls: {cert_file: %q, key_file: %q}\n", cert, key)
	}
	jwtWith := func(file string) string {
		return srv("") + "    auth: [jwt:idp]\n" + fmt.Sprintf(`auth:
  jwt:
    - name: idp
      algorithms: [RS256]
      public_key_file: %q
`, file)
	}
	tests := []struct {
		name  string
		yaml  string
		paths []string // nil: valid
	}{
		{"valid", srv(""), nil},
		{"valid tls", srv(tlsWith(certA, keyA)), nil},
		{"valid api_key", srv("") + "    auth: [api_key]\n", nil},
		{"tls cert missing", srv(tlsWith(missing, keyA)), []string{"server.tls.cert_file"}},
		{"tls key missing", srv(tlsWith(certA, missing)), []string{"server.tls.key_file"}},
		{"tls both missing", srv(tlsWith(missing, missing)), []string{"server.tls.cert_file", "server.tls.key_file"}},
		{"tls cert not pem", srv(tlsWith(notPEM, keyA)), []string{"server.tls.cert_file"}},
		{"tls key of another cert", srv(tlsWith(certA, keyB)), []string{"server.tls.key_file"}},
		{"jwt key file missing", jwtWith(missing), []string{"auth.jwt[0].public_key_file"}},
		{"jwt key file not a key", jwtWith(notPEM), []string{"auth.jwt[0].public_key_file"}},
		{"jwt key file and tls cert", strings.Replace(jwtWith(missing), "listen: \"127.0.0.1:0\"\n", "listen: \"127.0.0.1:0\"\n"+tlsWith(missing, keyA), 1),
			[]string{"server.tls.cert_file", "auth.jwt[0].public_key_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parseConfig(t, tt.yaml)
			err := Plan(cfg)
			if tt.paths == nil {
				if err != nil {
					t.Fatalf("Plan() = %v, want nil", err)
				}
				return
			}
			var ps config.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Plan() = %v, want config.Problems", err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.Path)
				if p.Line == 0 {
					t.Errorf("problem %q has no line", p.Error())
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.paths, ",") {
				t.Errorf("Plan() problems at %v, want %v:\n%v", got, tt.paths, err)
			}
		})
	}
}

// syncStore records SyncConfig calls and fails them on demand; the
// servers of these tests have no api_key routes, so nothing else is
// called.
type syncStore struct {
	store.Store
	mu    sync.Mutex
	calls [][]string
	fail  error
}

func (s *syncStore) SyncConfig(_ context.Context, cs []store.Consumer, _ []store.APIKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	s.calls = append(s.calls, ids)
	return nil
}

func (s *syncStore) synced() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.calls...)
}

// TestReloadWritesStorageOnlyWhenItSwaps checks the order plan → activate
// → swap: a reload refused at plan writes nothing, one whose storage write
// fails is not swapped in, and a good one writes once and swaps.
func TestReloadWritesStorageOnlyWhenItSwaps(t *testing.T) {
	const file = `version: 1
server:
  listen: "127.0.0.1:0"
consumers:
  - id: %s
    api_keys: [{key: "k-%s-0123456789"}]
upstreams:
  app: {targets: [{url: "http://127.0.0.1:1"}]}
%s
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
`
	path := filepath.Join(t.TempDir(), "gantry.yaml")
	writeFile(t, path, fmt.Sprintf(file, "alice", "alice", ""))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	st := &syncStore{}
	s, err := New(Options{Config: cfg, ConfigPath: path, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	want := [][]string{{"alice"}}
	check := func(step string, ok bool, res ReloadResult, gen uint64) {
		t.Helper()
		if res.OK != ok || s.gen.Load().id != gen {
			t.Fatalf("%s: reload ok=%v generation %d (%v), want ok=%v generation %d", step, res.OK, s.gen.Load().id, res.Error, ok, gen)
		}
		if got := st.synced(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: storage writes %v, want %v", step, got, want)
		}
	}
	check("start", true, ReloadResult{OK: true}, 1)

	// bob, and an upstream the decoder accepts but the plan cannot build.
	writeFile(t, path, fmt.Sprintf(file, "bob", "bob", `  fn: {lambda: {function: f, region: us-east-1}}`))
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	check("refused at plan", false, s.Reload(), 1)

	writeFile(t, path, fmt.Sprintf(file, "bob", "bob", ""))
	st.fail = errors.New("storage down")
	res := s.Reload()
	check("refused at activate", false, res, 1)
	if !strings.Contains(res.Error, "storage down") {
		t.Errorf("reload error %q does not say why", res.Error)
	}
	if s.gen.Load().cfg.Consumers[0].ID != "alice" {
		t.Errorf("the serving generation has consumer %q, want alice", s.gen.Load().cfg.Consumers[0].ID)
	}

	st.fail = nil
	want = append(want, []string{"bob"})
	check("accepted", true, s.Reload(), 2)
}

// TestPlanContactsNothing checks that a plan (what `gantry validate` runs)
// does not fetch a JWKS, used by a route or not.
func TestPlanContactsNothing(t *testing.T) {
	var fetches atomic.Int64
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Write([]byte(`{"keys": []}`))
	}))
	defer idp.Close()
	cfg := parseConfig(t, fmt.Sprintf(`version: 1
server:
  listen: "127.0.0.1:0"
auth:
  jwt:
    - {name: used, jwks_url: %q, algorithms: [RS256]}
    - {name: unused, jwks_url: %q, algorithms: [ES256]}
upstreams:
  app: {targets: [{url: "http://127.0.0.1:1"}]}
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
    auth: [jwt:used, api_key]
`, idp.URL+"/a", idp.URL+"/b"))
	if err := Plan(cfg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := fetches.Load(); n != 0 {
		t.Fatalf("Plan fetched a JWKS %d times, want 0", n)
	}
}

// TestRefusedReloadAddsNoRouteSeries checks that a reload refused at plan
// leaves the metrics as they were: the refused file's new route gets no
// series, while an accepted one's appear when it serves (a route's series
// are created by its first request).
func TestRefusedReloadAddsNoRouteSeries(t *testing.T) {
	const file = `version: 1
server:
  listen: "127.0.0.1:0"
upstreams:
  app: {targets: [{url: "http://127.0.0.1:1"}]}
%s
routes:
  - name: app
    match: {path_prefix: /}
    upstream: app
  - name: ghost
    match: {path_prefix: /ghost}
    upstream: app
`
	path := filepath.Join(t.TempDir(), "gantry.yaml")
	writeFile(t, path, strings.Replace(fmt.Sprintf(file, ""), "  - name: ghost\n    match: {path_prefix: /ghost}\n    upstream: app\n", "", 1))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m := telemetry.NewMetrics()
	s, err := New(Options{Config: cfg, ConfigPath: path, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	series := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	if strings.Contains(series(), `route="app"`) {
		t.Errorf("series for route app before it served")
	}
	serve(s, httptest.NewRequest("GET", "/ghost", nil))
	if !strings.Contains(series(), `route="app"`) {
		t.Fatalf("no series for the serving route:\n%s", series())
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	writeFile(t, path, fmt.Sprintf(file, `  fn: {lambda: {function: f, region: us-east-1}}`))
	if res := s.Reload(); res.OK {
		t.Fatal("reload accepted a lambda upstream without credentials")
	}
	serve(s, httptest.NewRequest("GET", "/ghost", nil))
	if strings.Contains(series(), `route="ghost"`) {
		t.Errorf("a refused reload added series for its route ghost")
	}
	writeFile(t, path, fmt.Sprintf(file, ""))
	if res := s.Reload(); !res.OK {
		t.Fatalf("reload refused: %v", res.Error)
	}
	serve(s, httptest.NewRequest("GET", "/ghost", nil))
	if !strings.Contains(series(), `route="ghost"`) {
		t.Errorf("an accepted reload's route ghost has no series after serving")
	}
}

func TestConsumerProblems(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("consumers[1].api_keys[0].hash: not hex"), "consumers[1].api_keys[0].hash: not hex"},
		{errors.Join(errors.New("consumers[0].api_keys[0]: set exactly one of hash or key"), errors.New("consumers[2].api_keys[1].hash: short")),
			"consumers[0].api_keys[0]: set exactly one of hash or key\nconsumers[2].api_keys[1].hash: short"},
		{errors.New("something else"), "consumers: something else"},
	}
	for _, tt := range tests {
		ps := consumerProblems(tt.err)
		if got := ps.Error(); len(ps) > 0 && got != tt.want || len(ps) == 0 && tt.want != "" {
			t.Errorf("consumerProblems(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
