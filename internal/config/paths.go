package config

import (
	"path/filepath"
	"strings"
)

// resolvePaths makes every relative file path of the configuration
// relative to dir, the directory of the config file, the one place this
// is done: server.tls.cert_file and key_file (and those of
// server.tls.certificates), server.tls.client_ca_file, server.tls.acme's storage and ca_file, auth.jwt[].public_key_file,
// upstreams.*.tls files, storage.dsn with the sqlite driver (not ":memory:" or a "file:" URI,
// which the driver refuses) and usage.export.spool_dir. So a gateway, the
// CLI and a reload find the same files whatever the working directory.
// Absolute paths are left alone. Parse calls it with the directory of its
// file argument; with file "" (bytes from nowhere) nothing is resolved.
func (c *Config) resolvePaths(dir string) {
	if dir == "" || dir == "." { // already relative to the working directory
		return
	}
	at := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if t := c.Server.TLS; t != nil {
		at(&t.CertFile)
		at(&t.KeyFile)
		for i := range t.Certificates {
			at(&t.Certificates[i].CertFile)
			at(&t.Certificates[i].KeyFile)
		}
		at(&t.ClientCAFile)
		if a := t.ACME; a != nil {
			at(&a.Storage)
			at(&a.CAFile)
		}
	}
	for _, j := range c.Auth.JWT {
		if j != nil {
			at(&j.PublicKeyFile)
		}
	}
	if c.Storage.Driver == "sqlite" && c.Storage.DSN != ":memory:" && !strings.HasPrefix(c.Storage.DSN, "file:") {
		at(&c.Storage.DSN)
	}
	if x := c.Usage.Export; x != nil {
		at(&x.SpoolDir)
	}
	for _, u := range c.Upstreams {
		if u != nil && u.TLS != nil {
			at(&u.TLS.CAFile)
			at(&u.TLS.CertFile)
			at(&u.TLS.KeyFile)
		}
	}
}
