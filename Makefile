# The two commands of the README: `make demo` and `make test`. Everything else is a step.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test env servers lint typecheck layers docs bench clean

# A project venv holding uv, which then installs exactly what uv.lock says (--inexact keeps
# uv itself). Debian's python3 lacks venv until python3-venv is installed.
$(BIN)/uv:
	$(PYTHON) -m venv $(VENV) || { apt-get install -y -qq python3-venv && rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

# Compiled bytecode, as any installer but uv writes it: a process that compiles its imports
# as it loads them (here, where PYTHONDONTWRITEBYTECODE may be set) is slower to start and
# holds megabytes more for the rest of its life.
$(BIN)/tidings: $(BIN)/uv pyproject.toml uv.lock
	$(BIN)/uv sync --frozen --inexact --quiet --compile-bytecode
	@touch $@

env: $(BIN)/tidings

demo: env
	$(BIN)/tidings demo

lint: env
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: env
	$(BIN)/mypy

layers: env
	$(BIN)/lint-imports

# The documentation site, built strictly so that no link or page breaks unnoticed.
docs: env
	$(BIN)/mkdocs build --strict --quiet --site-dir "$$(mktemp -d)"

# The real servers the tests start privately (tests/servers/): Debian's Dovecot. Installing it
# may start the packaged service on the standard ports; the tests never use it, so stop it.
# And Debian's Chromium for the console's browser tests (Playwright drives it; it never
# downloads a browser of its own). And systemd-analyze, which checks the unit files in deploy/.
servers:
	command -v dovecot >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd dovecot-pop3d dovecot-lmtpd && { service dovecot stop || true; }; }
	test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	command -v systemd-analyze >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd; }

# Two pytest-xdist workers per core, at most four: each starts its own Dovecot and databases,
# and the tests mostly wait on those servers and on the processes they start (on 2 cores,
# 4 workers ran the suite in 15.0 min against 17.6 min for 2).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( 2 * n < 4 ? 2 * n : 4 )))

test: env servers lint typecheck layers docs
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup

# The benchmarks print their figures next to a baseline measured in the same run.
bench: env servers
	command -v mbsync >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq isync
	@# Each IDLE session of the test Dovecot needs an inotify instance; Linux's default of 128
	@# per user makes a 100-mailbox run measure Dovecot's once-a-second fallback instead.
	@# bench/scale.py and bench/latency.py hold 1,000 mailboxes twice over (Tidings and a bare client).
	test "$$(sysctl -n fs.inotify.max_user_instances)" -ge 4096 || sysctl -w fs.inotify.max_user_instances=4096 || echo "warning: cannot raise fs.inotify.max_user_instances"
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/latency_graph.py
	$(BIN)/python bench/backfill.py
	$(BIN)/python bench/large_mail.py
	$(BIN)/python bench/record_import.py
	$(BIN)/python bench/activity_grid.py --activities 100000 --repeat 3
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/category_latency.py
	$(BIN)/python bench/push_relay.py
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
