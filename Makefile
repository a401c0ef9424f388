# Two entry points for a fresh clone: `make demo` and `make test`. Everything installs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13 from pyenv when present (the bare python3.13 shim needs PYENV_VERSION).
PYTHON ?= $(shell for p in "$$(pyenv root 2>/dev/null)"/versions/3.13.*/bin/python python3.13 python3.12 python3; do \
            if [ -x "$$(command -v $$p 2>/dev/null)" ] && "$$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then echo $$p; break; fi; done)
LOCALSTACK_PYTHON ?= $(shell for p in "$$(pyenv root 2>/dev/null)"/versions/3.13.*/bin/python python3.13; do \
            if [ -x "$$(command -v $$p 2>/dev/null)" ] && "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then echo $$p; break; fi; done)
UV_VERSION := 0.9.30
VENV := .venv
LS_VENV := .localstack-venv
BIN := $(VENV)/bin

.PHONY: help demo test lint unit integration e2e schemas lock clean bench-dlp bench-export bench-proxy-peers package redis-server chromium

help:
	@echo "make demo   - run the pipeline on the embedded local stack (LocalStack + simulators)"
	@echo "make test   - lint, type-check and run all tests"

$(BIN)/.installed: pyproject.toml constraints/project.txt
	@test -n "$(PYTHON)" || { echo "error: Python >= 3.12 not found" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	$(BIN)/uv pip install -q --python $(BIN)/python -c constraints/project.txt -e ".[dev]"
	@touch $@

$(LS_VENV)/bin/.installed: constraints/localstack.txt
	@test -n "$(LOCALSTACK_PYTHON)" || { echo "error: Python 3.13 (for LocalStack 4.14) not found" >&2; exit 1; }
	$(LOCALSTACK_PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install -q "uv==$(UV_VERSION)"
	$(LS_VENV)/bin/uv pip install -q --python $(LS_VENV)/bin/python -r constraints/localstack.txt
	@touch $@

# The shared budget store (Valkey/ElastiCache in AWS) runs locally as Debian's redis-server,
# the same wire protocol and Lua scripting; started and stopped by PID by the stack and tests.
redis-server:
	@command -v redis-server >/dev/null || { echo "installing Debian's redis-server (shared budget store)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null \
		|| { echo "error: redis-server is needed: apt-get install redis-server" >&2; exit 1; }; }

# Headless Chromium renders the Art. 30 record to PDF (`sovgw audit report --format pdf`) and
# the tests check the HTML and PDF in it: Debian's package, installed once.
chromium:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium (Art. 30 PDF, report tests)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
		|| { echo "error: chromium is needed: apt-get install chromium" >&2; exit 1; }; }

# Salesforce's own source converter (npm @salesforce/source-deploy-retrieve) checks the SFDX
# project offline; Debian's Node 20 runs it with undici held at 6.x (package.json overrides).
SF_TOOLS := salesforce/tools
$(SF_TOOLS)/node_modules/.installed: $(SF_TOOLS)/package.json $(SF_TOOLS)/package-lock.json
	@command -v npm >/dev/null || { echo "error: Node.js and npm are needed (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	cd $(SF_TOOLS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

demo: $(BIN)/.installed $(LS_VENV)/bin/.installed redis-server
	$(BIN)/sovgw demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy sovgw functions model_serving benchmarks infra tests

test: lint $(LS_VENV)/bin/.installed redis-server chromium $(SF_TOOLS)/node_modules/.installed
	$(BIN)/pytest

unit: $(BIN)/.installed
	$(BIN)/pytest tests/unit

integration: $(BIN)/.installed redis-server $(SF_TOOLS)/node_modules/.installed
	$(BIN)/pytest tests/integration

e2e: $(BIN)/.installed $(LS_VENV)/bin/.installed redis-server chromium
	$(BIN)/pytest tests/e2e

schemas: $(BIN)/.installed
	$(BIN)/sovgw events schemas --write events/schemas

lock: $(BIN)/.installed
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.13 -o constraints/project.txt

clean:
	rm -rf $(VENV) $(LS_VENV) .localstack-data .run

# DLP benchmark side by side with Presidio (its own venv: spaCy and Presidio stay out of the project).
PRESIDIO_VENV := .presidio-venv
$(PRESIDIO_VENV)/bin/.installed: constraints/project.txt benchmarks/dlp/requirements-presidio.txt
	$(PYTHON) -m venv $(PRESIDIO_VENV)
	$(PRESIDIO_VENV)/bin/python -m pip install -q "uv==$(UV_VERSION)"
	$(PRESIDIO_VENV)/bin/uv pip install -q --python $(PRESIDIO_VENV)/bin/python -c constraints/project.txt -e . -r benchmarks/dlp/requirements-presidio.txt
	@touch $@

bench-dlp: $(PRESIDIO_VENV)/bin/.installed
	$(PRESIDIO_VENV)/bin/python -m benchmarks.dlp --records 5000 --presidio 1000 --output benchmarks/dlp/results/local-5000-seed7.json

# The proxy side by side with LiteLLM's proxy (its own venv: its dependencies stay out).
LITELLM_VENV := .litellm-venv
$(LITELLM_VENV)/bin/.installed: benchmarks/proxy/requirements-litellm.txt
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install -q "uv==$(UV_VERSION)"
	$(LITELLM_VENV)/bin/uv pip install -q --python $(LITELLM_VENV)/bin/python -r benchmarks/proxy/requirements-litellm.txt
	@touch $@

bench-proxy-peers: $(BIN)/.installed $(LITELLM_VENV)/bin/.installed
	$(BIN)/python -m benchmarks.proxy.peers --litellm $(LITELLM_VENV)/bin/litellm --out benchmarks/proxy/results/peers-2core.json

# Dataset export and scan at scale (1.1 GB through the simulator and LocalStack, ~15 min).
bench-export: $(BIN)/.installed $(LS_VENV)/bin/.installed redis-server
	$(BIN)/python -m benchmarks.export --output benchmarks/export/results/local-1100mb.json

# Lambda code package for the Pulumi program: the project and its pinned dependencies,
# cross-installed for Lambda's arm64 / python3.13 platform (Amazon Linux 2023, glibc 2.34: wheels
# up to manylinux_2_28, which google-re2 needs), with bytecode compiled in (Lambda's
# code directory is read-only: without it every cold start compiles every module it imports).
package: $(BIN)/.installed
	rm -rf build/lambda && mkdir -p build/lambda
	$(BIN)/uv pip install -q --python-platform aarch64-manylinux_2_28 --python-version 3.13 \
		--target build/lambda -c constraints/project.txt --no-deps -r <($(BIN)/uv pip compile -q pyproject.toml -c constraints/project.txt --python-version 3.13 --python-platform aarch64-manylinux_2_28 --no-header --no-annotate) .
	cp -r config build/lambda/
	install -D -m 755 functions/proxy/run.sh build/lambda/functions/proxy/run.sh
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m compileall -q -j 0 --invalidation-mode unchecked-hash build/lambda
	@du -sh build/lambda
