# FER Studio: `make run` starts the app on the shipped models, `make test` runs the tests.
# Both create the virtual environment (.venv) and install what they need on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
ADDRESS ?= 127.0.0.1
export FER_DATA_DIR ?= data

.PHONY: run test verify install install-dev browser clean lock

# requirements.txt lists what FER Studio uses; requirements.lock pins every package it pulls in, with
# hashes (pip checks them). `make lock` writes the locks again after requirements*.txt change.
$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	$(PY) -m pip install -q -r requirements-dev.lock
	touch $@

UV_COMPILE = $(VENV)/bin/uv pip compile --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 -q
lock: $(VENV)/.installed
	$(PY) -m pip install -q uv==0.13.9
	$(UV_COMPILE) requirements.txt -o requirements.lock
	$(UV_COMPILE) requirements-dev.txt -o requirements-dev.lock

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(PY) -m streamlit run app.py --server.address $(ADDRESS) --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

# The real-browser tests use Debian's Chromium (never `playwright install`): installed here when
# missing and running as root; otherwise those tests are skipped with the reason.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
				|| echo "chromium could not be installed: the browser tests will be skipped"; \
		else echo "no chromium and not root: the browser tests will be skipped"; fi; }

test: $(VENV)/.installed-dev browser
	$(PY) -m pytest -q

# Every run record's and shipped model's test figure (README table, model cards), measured again
# on the datasets under FER_DATA_DIR.
verify: $(VENV)/.installed
	$(PY) -m fer_core verify

clean:
	rm -rf $(VENV) .pytest_cache
