# `make demo` and `make test` work on a fresh machine: they (re)build .venv only when
# pyproject.toml changed since the last install, so repeated runs cost nothing.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed
BIN    := $(VENV)/bin

.PHONY: venv demo lint test bench clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# the distribution was called `grader` before it was renamed (that name is taken on PyPI)
	$(BIN)/python -m pip uninstall -qq -y grader 2>/dev/null || true
	$(BIN)/python -m pip install -qq -e '.[test,cluster]'
	@# bubblewrap gives each kernel its own namespaces (grader/sandbox/README.md); root installs it,
	@# anyone else is told how (the grader works without it, with namespaces of its own or a warning)
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get install -y -qq bubblewrap >/dev/null; } \
	  || echo "note: bubblewrap (bwrap) is not installed; as root: apt-get install bubblewrap"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/grade examples/submissions/hw3_student.ipynb

# The rule sets are in pyproject.toml ([tool.ruff], [tool.mypy]); a finding fails `make test`.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# pytest exits 5 when it collects no test: that is not a failure of the suite.
test: lint
	$(BIN)/python -m pytest -n 2 -q || [ $$? -eq 5 ]

bench: $(STAMP)
	$(BIN)/python scripts/bench_single.py

clean-venv:
	rm -rf $(VENV)
