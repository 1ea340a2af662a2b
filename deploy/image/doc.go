// Command image builds Gantry's container image without a container
// daemon: a static gantry binary, the CA bundle and the default config
// laid on an empty base, with the entrypoint, the non-root user, the
// ports, the OCI labels and a health check in the image config, written
// as a tarball that `docker load` and `podman load` accept. `make image`
// runs it after `make build`.
//
// It is release tooling, not part of the gateway: the gantry binary does
// not import it.
package main
