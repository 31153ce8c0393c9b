# dasdlab: two commands do all the set-up on a fresh machine:
#   make demo   creates .venv and runs the main job
#   make test   creates .venv, installs Debian's hercules when it can, runs the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test test-fast test-huge bench hercules warmup crash clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# Hercules 3.13 utilities are needed by the interop tests.  Install them when we can
# (root, or passwordless sudo); otherwise say how.
hercules:
	@if command -v dasdls >/dev/null 2>&1; then \
	  echo "hercules utilities found: $$(command -v dasdls)"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -q hercules || (apt-get update -q && apt-get install -y -q hercules)) >/dev/null; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	  (sudo apt-get install -y -q hercules || (sudo apt-get update -q && sudo apt-get install -y -q hercules)) >/dev/null; \
	else \
	  echo "NOTE: Hercules utilities (dasdinit, dasdls, dasdseq, ...) are not installed and"; \
	  echo "      this user cannot install them.  Run:  sudo apt-get install hercules"; \
	  echo "      The interop tests are skipped until then (and fail in CI)."; \
	fi

warmup: setup
	$(BIN)/dasdlab warmup

demo: setup
	$(BIN)/dasdlab demo

test: setup hercules
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not interop and not crash"

# tests that write tens of GB (a Hercules-written 3390-27 split into 14 dense files)
test-huge: setup hercules
	$(BIN)/python -m pytest -q -m huge

# the kill -9 campaign: every long command killed at random instants, checked against the
# truth, run again (not part of make test; an hour or more). KILLS=1000 JOBS=1|2
KILLS ?= 1000
JOBS  ?= 1
crash: setup
	$(BIN)/python tools/crash_campaign.py --kills $(KILLS) --jobs $(JOBS) --json crash-campaign.json

bench: setup hercules warmup
	$(BIN)/python -m pytest benchmarks -q --benchmark-only --benchmark-autosave \
	  --benchmark-json=.benchmarks/latest.json --benchmark-columns=min,median,max,rounds -p no:randomly

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .benchmarks
