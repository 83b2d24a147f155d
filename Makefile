# Every entry point of asynctools. A new machine needs two: `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      := .venv
VENV_BIN  := $(abspath $(VENV))/bin
# Strands Agents and the Python MCP SDK 1.x (for the MCP client tests): a venv of their own, as
# they pin an older `mcp` than the dev venv's.
VENV_AGENTS := .venv-agents
# AWS's SigV4 MCP proxy as its CLI distribution pins it (an `mcp` that conflicts with Strands').
VENV_PROXY  := .venv-proxy-cli
CLIENTS     := mcp/tests/clients
SCENARIO  ?= scenarios/research-assistant.toml
OUT       ?= out/$(basename $(notdir $(SCENARIO)))
CARGO     ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: help run test test-setup test-build test-rust test-cdk lint-rest bench fmt lint chromium nextest venv venv-lambda venv-agents clients-ts synth deploy local tools-demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

# `make run` builds the simulator's commands alone (no AWS SDK, no MCP: a few minutes cold), in a
# target directory of its own so the full CLI in target/release stays as `cargo build` left it.
run: ## compare sync and async agent loops on the research-assistant scenario (no AWS needed)
	$(CARGO) run --release --quiet --no-default-features --target-dir target/run -- compare $(SCENARIO) --out $(OUT)
	@echo "report: $(OUT)/report.html (open it in a browser), $(OUT)/report.md, $(OUT)/results.json"

# Two steps. First, side by side, the installs (waiting on the network), the Rust test build (on
# the CPU; it is clippy's check as well: CLIPPY_BUILD), the CDK app's tests and the format and
# module checks; then the Rust tests, with the machine to themselves.
test: ## install what the tests need, then run every test and check
	@$(MAKE) --no-print-directory -j test-setup
	@$(MAKE) --no-print-directory test-rust
	@echo "make test: all passed"

test-setup: venv venv-lambda venv-agents clients-ts chromium test-build test-cdk lint-rest

# The Rust tests: the libraries', binaries' and test files' under cargo-nextest (several at once,
# a few motos for all, the timing-bound ones alone: .config/nextest.toml, scripts/with-moto.sh), then
# the benches' and examples' smoke runs and the doc tests.
TEST_ENV := PATH="$(VENV_BIN):$$PATH" ASYNCTOOLS_REQUIRE_MOTO=1 ASYNCTOOLS_REQUIRE_CHROMIUM=1
FEATURES := --features asynctools/fault-injection
NEXTEST_ARGS := --workspace --lib --bins --tests $(FEATURES)
# clippy (warnings as errors) as the compiler of the workspace's own crates, as `cargo clippy` runs
# it: every test build is also the lint of what it builds. The same for every cargo command of
# `make test`, or each would rebuild the workspace.
CLIPPY_BUILD := RUSTC_WORKSPACE_WRAPPER=clippy-driver CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
test-build: nextest
	$(CLIPPY_BUILD) $(CARGO) nextest run --no-run $(NEXTEST_ARGS)
	$(CLIPPY_BUILD) $(CARGO) test --no-run --workspace --bench '*' --example '*' $(FEATURES)

test-rust: venv venv-lambda venv-agents clients-ts chromium test-build
	$(CLIPPY_BUILD) $(TEST_ENV) scripts/with-moto.sh $(CARGO) nextest run $(NEXTEST_ARGS)
	$(CLIPPY_BUILD) $(TEST_ENV) scripts/with-moto.sh $(CARGO) test --workspace --bench '*' --example '*' --no-fail-fast $(FEATURES)
	$(CLIPPY_BUILD) $(CARGO) test --workspace --doc $(FEATURES)

nextest: ## cargo-nextest, the test runner (on the base machine already; installed if not)
	@$(CARGO) nextest --version >/dev/null 2>&1 || $(CARGO) install --locked cargo-nextest

test-cdk: venv ## the CDK app's tests (npm ci on first use)
	$(MAKE) -C cdk test VENV_BIN=$(VENV_BIN)

bench: ## simulator (side by side with BENCH_BASE, default HEAD~1) and pipeline throughput
	scripts/bench.sh

fmt: ## format the Rust code
	$(CARGO) fmt --all

lint: lint-rest ## rustfmt check, clippy with warnings as errors, the module layers check
	$(CARGO) clippy --workspace --all-targets --quiet -- -D warnings

# What `make test` checks besides its build's clippy.
lint-rest:
	$(CARGO) fmt --all -- --check
	python3 scripts/module-cycles.py src sim/src workers/src workers/aws/src workers/hosts/src live/src mcp/src

chromium: ## headless Chromium for the report.html browser test (Debian's package)
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

venv: $(VENV)/.stamp-dev ## python tools for the tests (moto, cfn-lint) in .venv
$(VENV)/.stamp-dev: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV_BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv-agents: $(VENV_AGENTS)/.stamp $(VENV_PROXY)/.stamp ## Strands Agents, the Python MCP SDK 1.x and AWS's MCP proxy (.venv-agents, .venv-proxy-cli), for the MCP client tests
$(VENV_AGENTS)/.stamp: $(CLIENTS)/requirements-agents.txt
	python3 -m venv $(VENV_AGENTS)
	$(VENV_AGENTS)/bin/pip install --quiet --disable-pip-version-check -r $(CLIENTS)/requirements-agents.txt
	touch $@
$(VENV_PROXY)/.stamp: $(CLIENTS)/requirements-proxy-cli.txt
	python3 -m venv $(VENV_PROXY)
	$(VENV_PROXY)/bin/pip install --quiet --disable-pip-version-check -r $(CLIENTS)/requirements-proxy-cli.txt
	touch $@

clients-ts: $(CLIENTS)/ts/node_modules/.stamp ## the TypeScript MCP SDKs (v1 and v2), for the MCP client tests
$(CLIENTS)/ts/node_modules/.stamp: $(CLIENTS)/ts/package-lock.json
	cd $(CLIENTS)/ts && npm ci --silent --no-audit --no-fund
	touch $@

venv-lambda: $(VENV)/.stamp-lambda ## cargo-lambda and zig in .venv, for building the Lambda functions
$(VENV)/.stamp-lambda: requirements-lambda.txt | venv
	$(VENV_BIN)/pip install --quiet --disable-pip-version-check -r requirements-lambda.txt
	touch $@


synth: venv-lambda ## synthesize the CDK stack offline (builds the Rust functions with cargo-lambda)
	@rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	$(MAKE) -C cdk synth VENV_BIN=$(VENV_BIN)

deploy: venv-lambda ## deploy the stack to YOUR AWS account (needs credentials and `cdk bootstrap`)
	$(MAKE) -C cdk deploy VENV_BIN=$(VENV_BIN)

tools-demo: venv-lambda ## your own tools: a Lambda function and an HTTP service as async tools, locally
	PATH="$(VENV_BIN):$$PATH" scripts/tools-demo.sh

local: venv ## start moto on 127.0.0.1 and create the stack's tables and queues on it
	PATH="$(VENV_BIN):$$PATH" scripts/local-stack.sh

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(VENV_AGENTS) $(VENV_PROXY) $(CLIENTS)/ts/node_modules out cdk/node_modules cdk/cdk.out
