package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	var o Options
	var created string
	flag.StringVar(&o.Binary, "binary", "bin/gantry", "the static gantry binary")
	flag.StringVar(&o.Config, "config", "deploy/gantry.yaml", "the default config, installed as "+ConfigPath)
	flag.StringVar(&o.CABundle, "ca", "/etc/ssl/certs/ca-certificates.crt", "the CA bundle (PEM), installed as "+CAPath)
	flag.StringVar(&o.Version, "version", "dev", "the org.opencontainers.image.version label")
	flag.StringVar(&o.Revision, "revision", "", "the org.opencontainers.image.revision label: the commit")
	flag.StringVar(&created, "created", "", "the image's creation time, RFC 3339 (default: the Unix epoch, for reproducible images)")
	flag.StringVar(&o.Arch, "arch", "", "the image's architecture (default: the binary's)")
	tag := flag.String("tag", "gantry:dev", "the name docker load gives the image")
	out := flag.String("o", "bin/gantry-image.tar", "the tarball to write")
	flag.Parse()
	if created != "" {
		t, err := time.Parse(time.RFC3339, created)
		if err != nil {
			fmt.Fprintf(os.Stderr, "image: -created: %v\n", err)
			os.Exit(2)
		}
		o.Created = t
	}
	img, err := Build(o)
	if err == nil {
		err = Write(*out, *tag, img)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s (%s)\n", *out, *tag)
}
