# Every target sets up what it needs: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

# A local MNIST copy beside the checkout (our machines and CI, which have no internet) is used
# for tests and the demo; elsewhere covering.data finds MNIST in its cache or downloads it.
ifneq ($(wildcard ../shared/data/mnist/.),)
export COVERING_MNIST_DIR ?= $(abspath ../shared/data/mnist)
endif

.PHONY: install demo test test-fast lint typecheck docs bench bench-quick clean

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[service,train,eval,ray,dev,docs]'
	# torchattacks pins an ancient `requests` and pulls torchvision (a CUDA torch): dev-only, no deps.
	$(PIP) install -q --no-deps 'torchattacks==3.5.1'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/covering demo

test: $(STAMP)
	$(VENV)/bin/ruff check covering service clients tests bench
	$(VENV)/bin/ruff format --check covering service clients tests bench
	$(VENV)/bin/mypy
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir site
	$(VENV)/bin/pytest -q

test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check covering service clients tests bench
	$(VENV)/bin/ruff format --check covering service clients tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# the documentation site (mkdocs.yml, docs/) into site/; --strict: a broken link or reference fails
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

bench: $(STAMP)
	$(VENV)/bin/covering bench --json bench/results/latest.json

bench-quick: $(STAMP)
	$(VENV)/bin/covering bench --quick --json bench/results/quick.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
