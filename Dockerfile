# Gantry's container image, built by a container engine:
#
#   docker build -t gantry:dev \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg BUILD_DATE=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ) .
#
# `make image` builds the same image without any daemon (deploy/image).
# Both run `make build`: a static binary, so the final stage needs no libc.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
RUN make build BIN=/out/gantry VERSION="${VERSION}" COMMIT="${COMMIT}" BUILD_DATE="${BUILD_DATE}" \
 && mkdir -m 0700 /out/data

# distroless/static: CA certificates, tzdata and the nonroot user (65532),
# no shell and no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
LABEL org.opencontainers.image.title="gantry" \
      org.opencontainers.image.description="Gantry, an API gateway" \
      org.opencontainers.image.source="https://github.com/gantry-dev/gantry" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}"
COPY --from=build /out/gantry /usr/local/bin/gantry
COPY deploy/gantry.yaml /etc/gantry/gantry.yaml
COPY --from=build --chown=65532:65532 /out/data /var/lib/gantry
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /var/lib/gantry
USER 65532:65532
EXPOSE 8080/tcp 9080/tcp
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/usr/local/bin/gantry", "health"]
ENTRYPOINT ["/usr/local/bin/gantry"]
CMD ["run", "--config", "/etc/gantry/gantry.yaml"]
