# Postfach: `make run` serves the webmail, `make test` passes the tests. Both set up what they
# need: a virtualenv in .venv, the Python packages and, as root, Debian's packages.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
TEST_DEBS := dovecot-imapd dovecot-pop3d redis-server chromium gettext nodejs npm
# axe-core, the accessibility checker the browser tests inject, comes from the npm registry.
AXE_VERSION := 4.10.3
AXE := .cache/npm/node_modules/axe-core/axe.min.js
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-only check-tools redis lint bench messages clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"' \
	  || { echo "Postfach needs Python 3.11 or newer as $(PYTHON)."; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { echo "Cannot create a virtualenv: as root run 'apt-get install python3-venv'."; exit 1; }

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	@touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py ensure_admin
	@echo "Postfach is starting on http://$${HOST:-127.0.0.1}:$${PORT:-8000}/ (Ctrl-C stops it)"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho -f Procfile start

# Debian packages the tests talk to: installed when we are root, named when we are not.
check-tools:
	@missing=""; \
	command -v dovecot >/dev/null || missing="$$missing dovecot-imapd dovecot-pop3d"; \
	[ -e /usr/lib/dovecot/pop3 ] || missing="$$missing dovecot-pop3d"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v msgfmt >/dev/null || missing="$$missing gettext"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian packages:$$missing"; \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null); rc=$$?; \
	    rm -f /usr/sbin/policy-rc.d; [ $$rc = 0 ] || { echo "apt-get install failed"; exit 1; }; \
	  else \
	    echo "The tests need these Debian packages, which are missing:$$missing"; \
	    echo "Install them as root: apt-get install$$missing"; exit 1; \
	  fi; \
	fi

# The test suite uses the Redis at 127.0.0.1:6379, starting one when none answers.
redis:
	@$(PY) -c 'import socket; socket.create_connection(("127.0.0.1", 6379), 1).close()' 2>/dev/null \
	  || { echo "Starting redis-server on 127.0.0.1:6379"; \
	       redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
	         --dir /tmp --logfile /tmp/postfach-test-redis.log; sleep 0.5; }

$(AXE):
	npm install --silent --no-audit --no-fund --prefix .cache/npm axe-core@$(AXE_VERSION) \
	  || { echo "Could not install axe-core from the npm registry"; exit 1; }

test: check-tools $(VENV)/.dev-installed $(AXE) redis lint test-only

# Two workers by default (pytest-xdist): the suite waits on servers, the browser and its own
# subprocesses more than it computes, so two share two cores well. A test file stays on one
# worker (--dist loadfile), so its module fixtures are built once. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
test-only:
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports

messages: $(VENV)/.dev-installed
	$(PY) manage.py makemessages -l de --no-obsolete --ignore=.venv --ignore=tests
	$(PY) manage.py makemessages -d djangojs -l de --no-obsolete --ignore=.venv --ignore=staticfiles
	$(PY) manage.py compilemessages --ignore=.venv

# Every benchmarks/*.py with a main guard is a benchmark (mailgen.py is a module they share);
# the first one that fails fails `make bench`.
bench: $(VENV)/.dev-installed
	@for script in $$(grep -l '^if __name__ == "__main__":' benchmarks/*.py); do \
	  echo "== $$script"; $(PY) "$$script" || exit 1; \
	done

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
