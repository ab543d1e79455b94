# syntax=docker/dockerfile:1
# wagate container image: a static binary (CGO_ENABLED=0) on distroless, run as the
# non-root user 65532, state in the /data volume, healthcheck by the binary itself.
#
#   docker build -t wagate --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) .
#   docker run -p 8080:8080 -v wagate-data:/data -e WAGATE_ADMIN_API_KEY=... wagate
#
# docs/operations.md ("Deploy") has the details.

ARG GO_VERSION=1.26.8
FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
ARG DATE=
ARG TARGETOS
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} GOFLAGS=-buildvcs=false \
    go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.buildDate=${DATE}" \
      -o /out/wagate ./cmd/wagate \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wagate /usr/local/bin/wagate
COPY gateway.yaml /etc/wagate/gateway.yaml
COPY --from=build --chown=65532:65532 /out/data /data
# The default config with the container's listen address and data directory; any other
# field can be set with its WAGATE_* variable (docs/config.md).
ENV WAGATE_SERVER_LISTEN=0.0.0.0:8080 \
    WAGATE_STORE_DIR=/data \
    WAGATE_LOG_FORMAT=json
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# No curl in distroless: the binary checks its own /health.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/wagate", "health", "--url", "http://127.0.0.1:8080", "--timeout", "4s"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/wagate"]
CMD ["serve", "--config", "/etc/wagate/gateway.yaml"]
