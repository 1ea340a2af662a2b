package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseResolvesPathsFromTheConfigDirectory(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "abs")
	base := `version: 1
server:
  listen: "127.0.0.1:0"
  tls: {cert_file: %CERT%, key_file: certs/key.pem}
auth:
  jwt:
    - {name: corp, public_key_file: keys/jwt.pem, algorithms: [RS256]}
storage: {driver: sqlite, dsn: %DSN%}
usage:
  export: {url: "http://127.0.0.1:1/ingest", spool_dir: spool}
`
	tests := []struct {
		name                      string
		file                      string
		cert, dsn                 string
		wantCert, wantKey         string
		wantJWT, wantDSN, wantDir string
	}{
		{
			name: "config in another directory", file: "/etc/gantry/gantry.yaml",
			cert: "./certs/cert.pem", dsn: "./data/gantry.db",
			wantCert: "/etc/gantry/certs/cert.pem", wantKey: "/etc/gantry/certs/key.pem",
			wantJWT: "/etc/gantry/keys/jwt.pem", wantDSN: "/etc/gantry/data/gantry.db", wantDir: "/etc/gantry/spool",
		},
		{
			name: "relative config path", file: "conf/gantry.yaml",
			cert: "../shared/cert.pem", dsn: "gantry.db",
			wantCert: "shared/cert.pem", wantKey: "conf/certs/key.pem",
			wantJWT: "conf/keys/jwt.pem", wantDSN: "conf/gantry.db", wantDir: "conf/spool",
		},
		{
			name: "absolute paths stay", file: "/etc/gantry/gantry.yaml",
			cert: abs, dsn: abs,
			wantCert: abs, wantKey: "/etc/gantry/certs/key.pem",
			wantJWT: "/etc/gantry/keys/jwt.pem", wantDSN: abs, wantDir: "/etc/gantry/spool",
		},
		{
			name: "in-memory sqlite stays", file: "/etc/gantry/gantry.yaml",
			cert: "c.pem", dsn: `":memory:"`,
			wantCert: "/etc/gantry/c.pem", wantKey: "/etc/gantry/certs/key.pem",
			wantJWT: "/etc/gantry/keys/jwt.pem", wantDSN: ":memory:", wantDir: "/etc/gantry/spool",
		},
		{
			name: "config in the working directory", file: "gantry.yaml",
			cert: "./c.pem", dsn: "./data/gantry.db",
			wantCert: "./c.pem", wantKey: "certs/key.pem",
			wantJWT: "keys/jwt.pem", wantDSN: "./data/gantry.db", wantDir: "spool",
		},
		{
			name: "no file: nothing resolved", file: "",
			cert: "./c.pem", dsn: "./data/gantry.db",
			wantCert: "./c.pem", wantKey: "certs/key.pem",
			wantJWT: "keys/jwt.pem", wantDSN: "./data/gantry.db", wantDir: "spool",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := replaceAll(base, "%CERT%", tt.cert, "%DSN%", tt.dsn)
			cfg, err := Parse([]byte(y), tt.file)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile, cfg.Auth.JWT[0].PublicKeyFile, cfg.Storage.DSN, cfg.Usage.Export.SpoolDir}
			want := []string{tt.wantCert, tt.wantKey, tt.wantJWT, tt.wantDSN, tt.wantDir}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("path %d = %q, want %q", i, got[i], want[i])
				}
			}
		})
	}
}

func replaceAll(s string, oldNew ...string) string {
	for i := 0; i < len(oldNew); i += 2 {
		s = strings.ReplaceAll(s, oldNew[i], oldNew[i+1])
	}
	return s
}

func TestParseACMEDefaultsAndPaths(t *testing.T) {
	y := `version: 1
server:
  listen: "127.0.0.1:0"
  tls:
    acme: {domains: [api.example.com], ca_file: certs/acme-ca.pem}
`
	cfg, err := Parse([]byte(y), "/etc/gantry/gantry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Server.TLS.ACME
	if a.Storage != "/etc/gantry/acme" || a.CAFile != "/etc/gantry/certs/acme-ca.pem" {
		t.Errorf("storage, ca_file = %q, %q; want them under the config's directory", a.Storage, a.CAFile)
	}
	if a.Directory != DefaultACMEDirectory || a.RenewBefore.D() != DefaultACMERenewBefore || a.CheckInterval.D() != DefaultACMECheckInterval {
		t.Errorf("defaults not applied: %+v", a)
	}
	if pairs, _ := cfg.Server.TLS.Pairs(); len(pairs) != 0 {
		t.Errorf("tls with acme alone lists certificate files %v", pairs)
	}
}
