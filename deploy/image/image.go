package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things live in the image. The Dockerfile uses the same paths.
const (
	BinaryPath = "/usr/local/bin/gantry"
	ConfigPath = "/etc/gantry/gantry.yaml"
	CAPath     = "/etc/ssl/certs/ca-certificates.crt"
	// DataDir is the working directory, owned by the gateway's user: the
	// SQLite store of deploy/gantry.yaml lives here.
	DataDir = "/var/lib/gantry"
	// UID is the gateway's user and group, distroless's "nonroot".
	UID = 65532
)

// Ports are the client listener and the admin listener of deploy/gantry.yaml.
var Ports = []string{"8080/tcp", "9080/tcp"}

// Options is what Build puts into the image.
type Options struct {
	Binary, Config, CABundle string // files on this machine
	Version, Revision        string // labels
	Created                  time.Time
	// Arch is a GOARCH; empty means the binary's own.
	Arch string
}

// Build assembles the image: a base layer (CA bundle, passwd and group
// with the nonroot user, /tmp and the data directory) and a gantry layer
// (binary and config), on an empty base. Every file's time is Created, so
// the same inputs give the same image digest.
func Build(o Options) (v1.Image, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, err
	}
	arch := o.Arch
	if arch == "" {
		if arch, err = elfArch(o.Binary); err != nil {
			return nil, err
		}
	}
	cfg, err := os.ReadFile(o.Config)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(o.CABundle)
	if err != nil {
		return nil, err
	}
	base := []entry{
		dir("/etc", 0o755, 0), dir("/etc/ssl", 0o755, 0), dir("/etc/ssl/certs", 0o755, 0),
		file(CAPath, 0o644, ca),
		file("/etc/passwd", 0o644, []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, UID))),
		file("/etc/group", 0o644, []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", UID))),
		dir("/home", 0o755, 0), dir("/home/nonroot", 0o700, UID),
		dir("/tmp", 0o1777, 0),
		dir("/var", 0o755, 0), dir("/var/lib", 0o755, 0), dir(DataDir, 0o700, UID),
	}
	app := []entry{
		dir("/usr", 0o755, 0), dir("/usr/local", 0o755, 0), dir("/usr/local/bin", 0o755, 0),
		file(BinaryPath, 0o755, bin),
		dir("/etc/gantry", 0o755, 0),
		file(ConfigPath, 0o644, cfg),
	}
	var layers []mutate.Addendum
	for _, l := range []struct {
		entries []entry
		by      string
	}{{base, "ca-certificates, nonroot user, " + DataDir}, {app, "gantry binary and default config"}} {
		layer, err := tarLayer(l.entries, o.Created)
		if err != nil {
			return nil, err
		}
		layers = append(layers, mutate.Addendum{
			Layer:   layer,
			History: v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: l.by},
		})
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.Append(img, layers...); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: o.Created}
	cf.Config = imageConfig(o)
	return mutate.ConfigFile(img, cf)
}

// imageConfig is how the container runs.
func imageConfig(o Options) v1.Config {
	ports := map[string]struct{}{}
	for _, p := range Ports {
		ports[p] = struct{}{}
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "gantry",
		"org.opencontainers.image.description": "Gantry, an API gateway",
		"org.opencontainers.image.source":      "https://github.com/gantry-dev/gantry",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.created":     o.Created.UTC().Format(time.RFC3339),
	}
	if o.Revision != "" {
		labels["org.opencontainers.image.revision"] = o.Revision
	}
	return v1.Config{
		Entrypoint:   []string{BinaryPath},
		Cmd:          []string{"run", "--config", ConfigPath},
		User:         fmt.Sprintf("%d:%d", UID, UID),
		WorkingDir:   DataDir,
		ExposedPorts: ports,
		Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + CAPath},
		Labels:       labels,
		// `gantry health` asks the admin listener's /healthz.
		Healthcheck: &v1.HealthConfig{
			Test:        []string{"CMD", BinaryPath, "health"},
			Interval:    10 * time.Second,
			Timeout:     3 * time.Second,
			StartPeriod: 5 * time.Second,
			Retries:     3,
		},
		StopSignal: "SIGTERM",
	}
}

// Write saves img as a docker-load tarball under tag.
func Write(file, tag string, img v1.Image) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	return tarball.WriteToFile(file, ref, img)
}

type entry struct {
	name string
	mode int64
	uid  int
	body []byte // nil for a directory
}

func dir(name string, mode int64, uid int) entry { return entry{name: name, mode: mode, uid: uid} }
func file(name string, mode int64, body []byte) entry {
	return entry{name: name, mode: mode, body: body}
}

// tarLayer writes entries as one gzipped OCI layer.
func tarLayer(entries []entry, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name:    strings.TrimPrefix(e.name, "/"),
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.uid,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if e.body == nil {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", path.Clean(e.name), err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// elfArch is the GOARCH of a Linux ELF binary.
func elfArch(file string) (string, error) {
	f, err := elf.Open(file)
	if err != nil {
		return "", fmt.Errorf("reading %s as a Linux binary: %w", file, err)
	}
	defer f.Close()
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_386:
		return "386", nil
	case elf.EM_ARM:
		return "arm", nil
	case elf.EM_PPC64:
		return "ppc64le", nil
	case elf.EM_S390:
		return "s390x", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	}
	return "", fmt.Errorf("%s: unsupported machine %v: pass -arch", file, f.Machine)
}
