# apikeys — the two set-up commands are `make run` and `make test`.
GO        ?= go
BIN       ?= bin/apikeys
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/agentauri/apikeys/app.Version=$(VERSION)
# The integration suites read APIKEYS_TEST_POSTGRES_DSN and APIKEYS_TEST_MYSQL_DSN
# from the environment (each run makes and drops its own database there), and
# APIKEYS_TEST_REDIS_URL (each test writes under a key prefix of its own).
GOLANGCI_LINT_VERSION := v2.15.0
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
GOLANGCI  := $(GOBIN)/golangci-lint
# Every Go module of the repository: the service, the Docker-only test fallback, and the Go
# client with its gin adapter (separate modules, so their users need none of the service's
# dependencies).
MODULES   := . test/containers client client/ginapikeys

.PHONY: run token build docker test test-short vet fmt lint tidy clean
.PHONY: bench bench-quick mutation

## run: build bin/apikeys, then start it on the embedded default (SQLite under ./data)
run: build
	$(BIN) serve

## token: print a development JWT with the built binary (SUB=user_1 ORG=org_123 TTL=1h), e.g.
## TOKEN=$$(make -s token): no second build, unlike `go run . token`, which builds with cgo
SUB ?= user_1
ORG ?= org_123
TTL ?= 1h
token: build
	@$(BIN) token --sub "$(SUB)" --org "$(ORG)" --ttl "$(TTL)"

## build: a static binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

## docker: the container image, tagged and stamped with the version (compose: APIKEYS_VERSION=... docker compose ...)
docker:
	docker build --build-arg VERSION=$(VERSION) -t apikeys:$(VERSION) .

## test: vet and lint every module, then every test (Postgres and MySQL suites run when their DSNs are set; in CI they must)
test: vet lint
	MODULES="$(MODULES)" bash test/gotest.sh

## test-short: the tests that need no database server
test-short:
	@for m in $(MODULES); do (cd $$m && $(GO) test -count=1 -short ./...) || exit 1; done

## bench: load benchmarks of the real binary against its ceiling (bare gin) on SQLite, and on
## Postgres and MySQL when their DSNs are set, plus the in-process Go benchmarks; writes BENCHMARKS.md
bench: build
	$(GO) build -o bin/bench-baseline ./test/bench/baseline
	$(GO) build -o bin/bench-load ./test/bench/load
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1s ./test/bench/ | tee bin/gobench.txt
	bin/bench-load -server $(BIN) -baseline bin/bench-baseline -gobench bin/gobench.txt -out BENCHMARKS.md

## bench-quick: a short SQLite-only pass of the load benchmarks (under a minute); writes bin/BENCHMARKS-quick.md
bench-quick: build
	$(GO) build -o bin/bench-baseline ./test/bench/baseline
	$(GO) build -o bin/bench-load ./test/bench/load
	bin/bench-load -quick -server $(BIN) -baseline bin/bench-baseline -out bin/BENCHMARKS-quick.md

GREMLINS_VERSION := v0.6.0
GREMLINS  := $(GOBIN)/gremlins
# The packages whose checks guard authentication, authorization, isolation
# and the audit trail's integrity.
MUTATION_PKGS := core/apikey core/audit core/auditlog core/keys core/paging core/quota core/routes \
	adapters/jwtauth adapters/httpapi adapters/argon2id adapters/pepper adapters/verifycache

## mutation: mutation testing (gremlins, pinned) of the security-critical packages against their
## unit tests; not in CI (about half an hour). Results in bin/mutation/, one table per package.
mutation:
	@if ! $(GO) version -m $(GREMLINS) 2>/dev/null | grep -Eq "mod\s+github.com/go-gremlins/gremlins\s+$(GREMLINS_VERSION)"; then \
		echo "installing gremlins $(GREMLINS_VERSION)"; \
		GOFLAGS= $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION) || exit 1; fi
	@mkdir -p bin/mutation
	@for p in $(MUTATION_PKGS); do \
		name=$$(echo $$p | tr / _); \
		echo "== $$p"; \
		$(GREMLINS) unleash --workers 2 --timeout-coefficient 10 --output bin/mutation/$$name.json ./$$p \
			> bin/mutation/$$name.txt 2>&1; \
		grep -E "^(Killed|Lived|Not covered|Timed out|Not viable|Test efficacy|Mutator coverage)" bin/mutation/$$name.txt; \
		grep -E "^ *LIVED" bin/mutation/$$name.txt || true; \
	done

## vet: gofmt, then build and vet every module
vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	@for m in $(MODULES); do echo "vet: $$m"; (cd $$m && CGO_ENABLED=0 $(GO) build ./... && $(GO) vet ./...) || exit 1; done

## lint: golangci-lint (.golangci.yml) at the pinned version, installed when missing; zero findings
lint:
	@if ! $(GOLANGCI) version 2>/dev/null | grep -q "version $(GOLANGCI_LINT_VERSION:v%=%) "; then \
		echo "installing golangci-lint $(GOLANGCI_LINT_VERSION)"; \
		GOFLAGS= $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) || exit 1; fi
	@for m in $(MODULES); do echo "lint: $$m"; (cd $$m && $(GOLANGCI) run --config $(CURDIR)/.golangci.yml ./...) || exit 1; done

fmt:
	gofmt -w $$(git ls-files '*.go')

tidy:
	$(GO) mod tidy

clean:
	rm -rf bin .test.log
