# okta-lifecycle: every task a newcomer needs. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# checkov pins older boto3 and networkx than sam and moto do: it has a virtualenv of its own.
CHECKOV_VENV := .venv-checkov
# cargo-lambda and sam come from the project's virtualenv.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
FUNCTIONS := hook-verify hook-intake log-poller deprovision actions sync

.PHONY: help venv chromium gnu-time build up down status run test test-unit test-tools test-sdk test-stack lint fmt validate lint-template bench bench-sync bench-burst bench-hook fuzz release deploy clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## create .venv with the pinned Python tools (moto, cargo-lambda, sam)

$(VENV)/.installed: tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --requirement tools/requirements.txt
	touch $@

$(CHECKOV_VENV)/.installed: tools/requirements-checkov.txt
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --requirement tools/requirements-checkov.txt
	touch $@

# Debian's Chromium renders the compliance report's HTML page for the screenshot check
# (tools/report_screenshot.py); installed once, as root, like any system package.
CHROMIUM := /usr/bin/chromium
chromium: $(CHROMIUM) ## install Debian's Chromium (headless rendering of the HTML report)

$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
	  || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }

# GNU time reports the peak RSS of the commands `make bench` measures (tools/bench_export.py).
GNU_TIME := /usr/bin/time
gnu-time: $(GNU_TIME) ## install GNU time (peak RSS of a command, for make bench)

$(GNU_TIME):
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends time \
	  || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends time; }

build: ## compile the workspace (debug), the binaries the local stack runs
	cargo build --workspace --all-targets

up: venv build ## start the local stack in the background (moto, functions, gateway, Okta sim, SCIM, receiver, stream driver)
	$(PY) tools/stack.py up

down: ## stop everything `make up` started
	@if [ -x $(PY) ]; then $(PY) tools/stack.py down; fi

status: ## show the local stack's processes
	@$(PY) tools/stack.py status

run: up ## start the stack, play the scenario, serve until Ctrl-C
	$(PY) tools/scenario.py
	$(PY) tools/stack.py serve

test: venv chromium lint validate lint-template test-unit test-tools test-sdk test-stack ## everything CI runs: fmt, clippy, unit, stack-tool, SDK, integration and e2e tests, sam validate, template lint

# The unit tests include the parsers' mutation tests (functions/lifecycle/tests/parsers_mutated.rs):
# 30,000 mutated inputs per parser (PARSER_MUTATIONS), about 30 s; `make fuzz` is the long,
# coverage-guided run over the same entry points.
test-unit: ## unit tests, the parsers' mutation tests and the Okta simulator's own tests (no stack needed)
	cargo test --workspace --exclude e2e-tests

test-tools: venv ## the local stack's own tools: stream driver logic, webhook receiver, the template's audit grants (no stack needed)
	$(PY) -m pytest -q tests/stack

test-sdk: venv build ## the official Okta Python SDK against the simulator
	$(PY) -m pytest -q tests/sdk

# The stack is stopped whatever the tests do; the exit status is the tests'.
# Tests that switch the whole stack (the integration off, hook deliveries dropped) or
# play a scenario through all of it run one at a time, first: the rest would spend the
# stack simulator's Okta rate budget (the hook tests' jobs read users) under them.
# The rotation tests change the credentials every function uses, so they run alone.
# Tests that seed tens of thousands of items run alone too: moto is one process, and
# under their writes the hook path's 2 s timeouts in the other tests would expire.
E2E_ALONE := integration_disabled:: poller_backstop:: okta_sim_hook:: deprovision:: \
  report:: store::a_failed_job_is_found_among_ten_thousand rotation::
# Every function's metric lines on the stack are checked against the EMF specification.
EMF_SERVICES := hook-verify hook-intake deprovision log-poller actions sync
test-stack: venv chromium build ## adapter and end-to-end tests against the local stack (the HTML report's screenshot among them)
	$(PY) tools/stack.py up
	status=0; for t in $(E2E_ALONE); do cargo test -p e2e-tests --tests -- $$t || status=$$?; done; \
	  cargo test -p e2e-tests --tests -- --test-threads=4 $(addprefix --skip ,$(E2E_ALONE)) || status=$$?; \
	  $(PY) -m pytest -q tests/sdk/test_actions_via_sdk.py || status=$$?; \
	  $(PY) tools/emf_check.py .local/logs/lambda.log $(addprefix --expect ,$(EMF_SERVICES)) || status=$$?; \
	  $(PY) tools/stack.py down; exit $$status

lint: ## rustfmt check and clippy with warnings as errors
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## format the code
	cargo fmt --all

validate: venv ## sam validate --lint on infra/template.yaml
	sam validate --lint --template-file infra/template.yaml

# Any finding fails. A finding that does not apply is suppressed in the template, on its
# resource's Metadata (cfn-lint: config: ignore_checks; checkov: skip), with the reason.
lint-template: venv $(CHECKOV_VENV)/.installed ## security lint of infra/template.yaml: cfn-lint with AWS's serverless rules, checkov, the audit trail's append-only grants
	cfn-lint --append-rules cfn_lint_serverless.rules -- infra/template.yaml
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f infra/template.yaml
	$(PY) tools/audit_policy.py infra/template.yaml

release: venv ## build the arm64 release binaries into target/lambda/
	rustup target add aarch64-unknown-linux-gnu >/dev/null
	cargo lambda build --release --arm64 $(addprefix --bin ,$(FUNCTIONS))

bench: venv gnu-time build release ## latency, init time, binary size and peak RSS, the audit export's memory, the sync at 10,000 people (see README)
	$(PY) tools/bench.py
	$(MAKE) bench-sync
	$(MAKE) bench-report

bench-sync: venv gnu-time build ## the sync of a 10,000-person HR export at Okta's rate limits, on the local stack (report in .local/bench-sync.md)
	cargo build --release
	LAMBDA_PROFILE=release $(PY) tools/stack.py up
	status=0; $(PY) tools/bench_sync.py $(BENCH_SYNC_ARGS) || status=$$?; $(PY) tools/stack.py down; exit $$status

# The report test of `make test` (report::, 16,400 lines) over a trail of REPORT_TRAIL_LINES:
# every line in the export's CSV (Python's csv) and JSON lines, every departure's time,
# outcome and SLA verdict, the percentiles, and the HTML page's histogram in headless
# Chromium. moto walks the table for each page, so 100,000 lines take it minutes.
REPORT_TRAIL_LINES ?= 100000
bench-report: venv chromium build ## the export and report test over a trail of 100,000 audit lines (REPORT_TRAIL_LINES), on the local stack
	$(PY) tools/stack.py up
	status=0; REPORT_TRAIL_LINES=$(REPORT_TRAIL_LINES) cargo test -p e2e-tests --tests -- --nocapture report:: || status=$$?; \
	  $(PY) tools/stack.py down; exit $$status

BENCH_BURST_ARGS ?=
bench-burst: venv build ## leavers at Okta's rate limits on the local stack: 1,000 deactivated at once, the ratio to the bound, the loss check, table calls per job (report in .local/bench-burst.md; BENCH_BURST_ARGS="--users 10000 --scale 10")
	MOTO_CALL_COUNTS=$(CURDIR)/.local/moto-calls.json $(PY) tools/stack.py up
	status=0; $(PY) tools/bench_burst.py $(BENCH_BURST_ARGS) || status=$$?; $(PY) tools/stack.py down; exit $$status

bench-hook: venv build ## the hook under a burst on the local stack: 200 deliveries of 100 events at once (report in .local/bench-hook.md)
	$(PY) tools/stack.py up
	status=0; $(PY) tools/hook_load.py || status=$$?; $(PY) tools/stack.py down; exit $$status

# cargo-fuzz runs libFuzzer with nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain
# take them. The fuzz crate (fuzz/) is outside the workspace, with its own Cargo.lock.
FUZZ_SECONDS ?= 300
fuzz: ## coverage-guided fuzzing of the input parsers, FUZZ_SECONDS (300) per target (report in .local/fuzz.md)
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build -O
	python3 tools/fuzz_run.py --seconds $(FUZZ_SECONDS)

deploy: venv ## sam build + sam deploy --guided (needs AWS credentials)
	sam build --template-file infra/template.yaml --beta-features
	sam deploy --guided

clean: down ## remove build output and local state
	cargo clean
	rm -rf .local .aws-sam
