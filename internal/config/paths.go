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
// Absolute paths are left alone. With several files, a path is relative
// to the directory of the file that sets it (a default, to the config
// file's directory or the config directory). With no file (bytes from
// nowhere) nothing is resolved.
func (c *Config) resolvePaths() {
	at := func(key string, p *string) {
		dir := c.dirOf(key)
		if dir == "" || dir == "." { // already relative to the working directory
			return
		}
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if t := c.Server.TLS; t != nil {
		at("server.tls.cert_file", &t.CertFile)
		at("server.tls.key_file", &t.KeyFile)
		for i := range t.Certificates {
			at(index("server.tls.certificates", i), &t.Certificates[i].CertFile)
			at(index("server.tls.certificates", i), &t.Certificates[i].KeyFile)
		}
		at("server.tls.client_ca_file", &t.ClientCAFile)
		if a := t.ACME; a != nil {
			at("server.tls.acme.storage", &a.Storage)
			at("server.tls.acme.ca_file", &a.CAFile)
		}
	}
	for i, j := range c.Auth.JWT {
		if j != nil {
			at(index("auth.jwt", i)+".public_key_file", &j.PublicKeyFile)
		}
	}
	if c.Storage.Driver == "sqlite" && c.Storage.DSN != ":memory:" && !strings.HasPrefix(c.Storage.DSN, "file:") {
		at("storage.dsn", &c.Storage.DSN)
	}
	if x := c.Usage.Export; x != nil {
		at("usage.export.spool_dir", &x.SpoolDir)
	}
	for name, u := range c.Upstreams {
		if u != nil && u.TLS != nil {
			p := "upstreams." + name + ".tls"
			at(p+".ca_file", &u.TLS.CAFile)
			at(p+".cert_file", &u.TLS.CertFile)
			at(p+".key_file", &u.TLS.KeyFile)
		}
	}
}
