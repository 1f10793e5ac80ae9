# syntax=docker/dockerfile:1
# The imagewatch-engine container image (docs/guides/running-the-engine.md).
#
#   docker build -t imagewatch-engine:dev --build-arg VERSION=$(git describe --tags --always) .
#   docker run --rm -v /etc/imagewatch:/etc/imagewatch:ro -v imagewatch-data:/var/lib/imagewatch \
#     -p 127.0.0.1:9090:9090 imagewatch-engine:dev
#
# The image holds only the static engine binary (no shell, no package manager) and runs as the
# distroless "nonroot" user (uid/gid 65532). The configuration is mounted read-only at
# /etc/imagewatch/config.json; it must put "state" and its directory output under the writable
# volume /var/lib/imagewatch and, to reach the HTTP server from outside the container,
# listen on ":9090" rather than a loopback address.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Module downloads first, so they stay cached while the sources change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
# CGO off: the store is pure-Go SQLite (modernc.org/sqlite), so the binary is fully static.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/imagewatch-engine ./cmd/imagewatch-engine \
 && install -d -m 0700 /out/var/lib/imagewatch

# distroless/static: CA certificates, tzdata, /tmp and a nonroot user; nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="imagewatch-engine" \
      org.opencontainers.image.description="Watches JFrog Artifactory Docker repositories and keeps an SBOM and a metadata record for every image" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/imagewatch/terraform-provider-imagewatch"
COPY --from=build /out/imagewatch-engine /usr/local/bin/imagewatch-engine
# The state directory exists and belongs to the runtime user, so a fresh named volume mounted
# there inherits that ownership.
COPY --from=build --chown=65532:65532 /out/var/lib/imagewatch /var/lib/imagewatch
USER 65532:65532
WORKDIR /var/lib/imagewatch
VOLUME ["/var/lib/imagewatch"]
# The "listen" address of the sample configuration: /healthz, /readyz, /metrics, /api/v1/images.
EXPOSE 9090
# SIGTERM checkpoints and exits within 10 seconds (docker stop waits 10 s by default).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/imagewatch-engine"]
CMD ["run", "--config", "/etc/imagewatch/config.json"]
