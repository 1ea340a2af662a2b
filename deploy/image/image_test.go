package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/server"
)

// The test builds the image from a stand-in binary (an arm64 ELF header
// and a few bytes, so the platform comes from the binary, not from this
// machine) rather than a gantry build, then
// reads the tarball back the way `docker load` does: manifest.json names
// the tag, the config and the layers.
func TestImageTarball(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "gantry")
	writeFakeELF(t, exe, elf.EM_AARCH64)
	cfg := filepath.Join(dir, "gantry.yaml")
	ca := filepath.Join(dir, "ca.pem")
	writeFile(t, cfg, "version: 1\n")
	writeFile(t, ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	img, err := Build(Options{Binary: exe, Config: cfg, CABundle: ca, Version: "v1.4.0", Revision: "0123abc", Created: created})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image.tar")
	if err := Write(out, "gantry:v1.4.0", img); err != nil {
		t.Fatal(err)
	}

	tag, err := name.NewTag("gantry:v1.4.0")
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("reading the tarball as docker load does: %v", err)
	}
	// The docker-save layout keeps no manifest of its own (a reader makes
	// one up), so the media types are checked on the image as built.
	if mt, err := img.MediaType(); err != nil || mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type = %q, %v; want %q", mt, err, types.OCIManifestSchema1)
	}
	if m, err := img.Manifest(); err != nil || m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 2 || m.Layers[0].MediaType != types.OCILayer {
		t.Errorf("manifest = %+v, %v; want an OCI config and two OCI layers", m, err)
	}
	cf, err := loaded.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "arm64" {
		t.Errorf("platform = %s/%s, want linux/arm64, the binary's", cf.OS, cf.Architecture)
	}
	if !cf.Created.Time.Equal(created) {
		t.Errorf("created = %v, want %v", cf.Created.Time, created)
	}
	c := cf.Config
	checks := []struct {
		name      string
		got, want any
	}{
		{"entrypoint", c.Entrypoint, []string{"/usr/local/bin/gantry"}},
		{"cmd", c.Cmd, []string{"run", "--config", "/etc/gantry/gantry.yaml"}},
		{"user", c.User, "65532:65532"},
		{"exposed ports", c.ExposedPorts, map[string]struct{}{"8080/tcp": {}, "9080/tcp": {}}},
		{"healthcheck", c.Healthcheck, &v1.HealthConfig{Test: []string{"CMD", "/usr/local/bin/gantry", "health"}, Interval: 10 * time.Second, Timeout: 3 * time.Second, StartPeriod: 5 * time.Second, Retries: 3}},
		{"labels", c.Labels, map[string]string{
			"org.opencontainers.image.title":       "gantry",
			"org.opencontainers.image.description": "Gantry, an API gateway",
			"org.opencontainers.image.source":      "https://github.com/gantry-dev/gantry",
			"org.opencontainers.image.licenses":    "Apache-2.0",
			"org.opencontainers.image.version":     "v1.4.0",
			"org.opencontainers.image.revision":    "0123abc",
			"org.opencontainers.image.created":     "2026-12-01T10:00:00Z",
		}},
	}
	for _, tt := range checks {
		if diff := cmp.Diff(tt.want, tt.got); diff != "" {
			t.Errorf("config %s (-want +got):\n%s", tt.name, diff)
		}
	}
	if n := len(cf.RootFS.DiffIDs); n != 2 || len(cf.History) != 2 {
		t.Errorf("%d layers and %d history entries, want 2 and 2", n, len(cf.History))
	}

	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	type fileInfo struct {
		Mode     int64
		UID, GID int
		Dir      bool
		Body     []byte `json:",omitempty"`
	}
	got := map[string]fileInfo{}
	tr := tar.NewReader(mutate.Extract(loaded))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fi := fileInfo{Mode: h.Mode, UID: h.Uid, GID: h.Gid, Dir: h.Typeflag == tar.TypeDir}
		if !fi.Dir {
			if fi.Body, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
		if !h.ModTime.Equal(created) {
			t.Errorf("%s: mtime %v, want %v", h.Name, h.ModTime, created)
		}
		got[filepath.Clean("/"+h.Name)] = fi
	}
	want := map[string]fileInfo{
		"/usr/local/bin/gantry":              {Mode: 0o755, Body: bin},
		"/etc/gantry/gantry.yaml":            {Mode: 0o644, Body: []byte("version: 1\n")},
		"/etc/ssl/certs/ca-certificates.crt": {Mode: 0o644, Body: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")},
		"/var/lib/gantry":                    {Mode: 0o700, UID: 65532, GID: 65532, Dir: true},
		"/home/nonroot":                      {Mode: 0o700, UID: 65532, GID: 65532, Dir: true},
		"/tmp":                               {Mode: 0o1777, Dir: true},
	}
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s missing from the image", p)
			continue
		}
		if !bytes.Equal(g.Body, w.Body) {
			t.Errorf("%s: %d bytes differ from the %d put in", p, len(g.Body), len(w.Body))
		}
		g.Body, w.Body = nil, nil
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("%s (-want +got):\n%s", p, diff)
		}
	}
	if pw := string(got["/etc/passwd"].Body); !bytes.Contains([]byte(pw), []byte("nonroot:x:65532:65532:")) {
		t.Errorf("/etc/passwd has no nonroot user 65532:\n%s", pw)
	}

	// The same inputs give the same image: nothing depends on the clock.
	again, err := Build(Options{Binary: exe, Config: cfg, CABundle: ca, Version: "v1.4.0", Revision: "0123abc", Created: created})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds from the same inputs: digests %s and %s", d1, d2)
	}
}

func TestImageRefusesNonELF(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gantry")
	writeFile(t, bin, "#!/bin/sh\n")
	writeFile(t, filepath.Join(dir, "c"), "")
	_, err := Build(Options{Binary: bin, Config: filepath.Join(dir, "c"), CABundle: filepath.Join(dir, "c")})
	if err == nil {
		t.Fatal("Build accepted a shell script as the binary")
	}
}

// writeFakeELF writes an ELF executable header for machine and some
// bytes after it: enough for debug/elf, not a program.
func writeFakeELF(t *testing.T, p string, machine elf.Machine) {
	t.Helper()
	h := elf.Header64{
		Type:    uint16(elf.ET_EXEC),
		Machine: uint16(machine),
		Version: uint32(elf.EV_CURRENT),
		Ehsize:  64,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	b.WriteString("gantry stand-in binary\n")
	if err := os.WriteFile(p, b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDefaultConfig: deploy/gantry.yaml, the image's /etc/gantry/gantry.yaml,
// passes `gantry validate` and listens on the ports the image exposes.
func TestDefaultConfig(t *testing.T) {
	t.Setenv("GANTRY_ADMIN_TOKEN", "c0ntainer-admin-token")
	cfg, err := config.Load(filepath.Join("..", "gantry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Check(cfg); err != nil {
		t.Fatalf("gantry validate deploy/gantry.yaml: %v", err)
	}
	var listens []string
	for _, addr := range []string{cfg.Server.Listen, cfg.Admin.Listen} {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		listens = append(listens, port+"/tcp")
	}
	if diff := cmp.Diff(Ports, listens); diff != "" {
		t.Errorf("listeners vs the image's exposed ports (-exposed +config):\n%s", diff)
	}
	if cfg.Admin.Token != "c0ntainer-admin-token" {
		t.Errorf("admin.token = %q, want it from GANTRY_ADMIN_TOKEN", cfg.Admin.Token)
	}
	if dir := filepath.Dir(cfg.Storage.DSN); cfg.Storage.Driver == "sqlite" && dir != DataDir {
		t.Errorf("the SQLite file %s is outside %s, the only directory the image's user may write", cfg.Storage.DSN, DataDir)
	}
}

// TestDockerfileMatches: the Dockerfile builds the image `make image`
// builds, so its instructions carry the same config.
func TestDockerfileMatches(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	c := imageConfig(Options{})
	jsonList := func(v []string) string {
		s, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(string(s), `","`, `", "`)
	}
	hc := c.Healthcheck
	want := []string{
		"ENTRYPOINT " + jsonList(c.Entrypoint),
		"CMD " + jsonList(c.Cmd),
		"USER " + c.User,
		"WORKDIR " + c.WorkingDir,
		"EXPOSE " + strings.Join(Ports, " "),
		"STOPSIGNAL " + c.StopSignal,
		fmt.Sprintf("HEALTHCHECK --interval=%v --timeout=%v --start-period=%v --retries=%d CMD %s", hc.Interval, hc.Timeout, hc.StartPeriod, hc.Retries, jsonList(hc.Test[1:])),
		"COPY --from=build /out/gantry " + BinaryPath,
		"COPY deploy/gantry.yaml " + ConfigPath,
		fmt.Sprintf("COPY --from=build --chown=%d:%d /out/data %s", UID, UID, DataDir),
		"RUN make build ",
	}
	for _, line := range want {
		if !strings.Contains(df, "\n"+line) {
			t.Errorf("the Dockerfile has no line starting %q", line)
		}
	}
	for k := range c.Labels {
		if !strings.Contains(df, k+"=") {
			t.Errorf("the Dockerfile does not set the label %s", k)
		}
	}
}
