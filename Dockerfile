# syntax=docker/dockerfile:1
#
# apikeys as a small static image: a CGO-free binary on distroless/static,
# running as the non-root user 65532 (nonroot). No shell, no package manager.
#
#   docker build -t apikeys --build-arg VERSION=$(git describe --tags --always) .   # or: make docker
#       # VERSION is stamped into the binary (apikeys version, and the
#       # service.version of its telemetry) and the image's version label
#   docker run -p 8080:8080 -v apikeys-data:/app/data apikeys
#       # embedded SQLite in /app/data, development secrets generated there
#   docker run apikeys --config configs/postgres.yaml migrate up   # with APIKEYS_STORAGE_DSN,
#   docker run apikeys --config configs/postgres.yaml serve        # APIKEYS_JWT_SECRET,
#                                                                  # APIKEYS_SECURITY_PEPPER and
#                                                                  # APIKEYS_AUDIT_CHAIN_KEY set
# docker-compose.yml runs it against PostgreSQL or MySQL. This file was not
# built where it was written (no Docker engine there); see docs/databases.md.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
# The service's CLI uses the Go client, a module of its own (replace => ./client).
COPY client/go.mod client/
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/agentauri/apikeys/app.Version=${VERSION}" \
      -o /out/apikeys . \
 && mkdir -p /out/data && chmod 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="apikeys" \
      org.opencontainers.image.version="${VERSION}"
WORKDIR /app
COPY --from=build /out/apikeys /app/apikeys
COPY configs/ /app/configs/
# The SQLite default keeps its database and development secrets here:
# readable by the service's user only (0700; the store creates its files
# 0600).
COPY --from=build --chown=65532:65532 --chmod=0700 /out/data /app/data
ENV APIKEYS_HTTP_ADDR=0.0.0.0:8080 \
    APIKEYS_DATA_DIR=/app/data
USER 65532:65532
EXPOSE 8080
# Liveness; `apikeys healthcheck --ready` also checks the database and migrations.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/app/apikeys", "healthcheck"]
ENTRYPOINT ["/app/apikeys"]
CMD ["serve"]
