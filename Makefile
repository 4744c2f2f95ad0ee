# The two front-door commands:  `make reports` (the main job) and `make test` (the whole suite).
# Both create .venv and install the package with its extras when missing, so a fresh machine
# with only Python 3.11 needs nothing else.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup reports simulate test lint lab refresh-notebooks bench clean browser postgres wheel-check

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

## main job: simulate the default scenario, analyse it and write reports/ (index + one per service line)
reports: setup
	$(BIN)/nurture-lab report --all --n-leads auto --out reports --jobs 2

simulate: setup
	$(BIN)/nurture-lab simulate simulations/speed_to_lead.toml --seed 7 --n-leads 20000 --out simulations/out

## the whole test suite: lint, types, unit/statistical tests, every notebook under nbval, and the built
## wheel installed in a fresh virtual environment rendering a report outside the checkout
test: setup browser postgres
	$(BIN)/ruff check nurture_lab tests benchmarks notebooks
	$(BIN)/ruff format --check nurture_lab tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -q --nbval-lax tests notebooks
	$(MAKE) wheel-check

# build the wheel, install it (with its dependencies, pinned) into a new venv, run the CLI from /tmp
WHEEL_TMP := $(shell mktemp -d -u /tmp/nurture-lab-wheel.XXXXXX)
wheel-check: setup
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir $(WHEEL_TMP)/dist .
	$(PYTHON) -m venv $(WHEEL_TMP)/venv
	$(WHEEL_TMP)/venv/bin/python -m pip install --quiet -c constraints.txt $(WHEEL_TMP)/dist/*.whl
	cd $(WHEEL_TMP) && $(WHEEL_TMP)/venv/bin/nurture-lab --version
	cd $(WHEEL_TMP) && $(WHEEL_TMP)/venv/bin/nurture-lab lint speed_to_lead > /dev/null
	cd $(WHEEL_TMP) && $(WHEEL_TMP)/venv/bin/nurture-lab report --service-line orthopedics --n-leads 6000 --jobs 1 --out $(WHEEL_TMP)/reports
	test -s $(WHEEL_TMP)/reports/orthopedics.html && test -s $(WHEEL_TMP)/reports/index.html
	rm -rf $(WHEEL_TMP)
	@echo "wheel-check: the installed wheel rendered a report outside the checkout"

# headless Chromium for the real-browser report test (installed when missing and possible)
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium could not be installed: the browser test will be skipped"; }

# Debian's PostgreSQL server for the warehouse tests (each test run starts its own cluster in a
# temporary folder on a free port; installed when missing and possible, else those tests are skipped)
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	  || echo "postgresql could not be installed: the PostgreSQL tests will be skipped"; }

lint: setup
	$(BIN)/ruff check nurture_lab tests benchmarks notebooks
	$(BIN)/ruff format --check nurture_lab tests benchmarks
	$(BIN)/mypy

## open the notebooks in JupyterLab from the project's environment
lab: setup
	$(BIN)/jupyter lab notebooks

## re-execute the notebooks in place after a deliberate change (refreshes nbval's stored outputs)
refresh-notebooks: setup
	$(BIN)/python -m nurture_lab.reporting.refresh notebooks

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
