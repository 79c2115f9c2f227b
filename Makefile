# apikeys — the two set-up commands are `make run` and `make test`.
GO        ?= go
BIN       ?= bin/apikeys
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/agentauri/apikeys/app.Version=$(VERSION)
# Database servers for the integration suites (each run makes and drops its own database).
APIKEYS_TEST_POSTGRES_DSN ?=
APIKEYS_TEST_MYSQL_DSN    ?=
export APIKEYS_TEST_POSTGRES_DSN APIKEYS_TEST_MYSQL_DSN

.PHONY: run build test test-short vet fmt lint tidy clean

## run: start the service on the embedded default (SQLite under ./data)
run:
	CGO_ENABLED=0 $(GO) run -ldflags "$(LDFLAGS)" . serve

## build: a static binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

## test: vet, then every test (Postgres and MySQL suites run when their DSNs are set; in CI they must)
test: vet
	CGO_ENABLED=0 $(GO) build ./...
	bash test/gotest.sh

## test-short: the tests that need no database server
test-short:
	$(GO) test -count=1 -short ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

tidy:
	$(GO) mod tidy

clean:
	rm -rf bin .test.log
