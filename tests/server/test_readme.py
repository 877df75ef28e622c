"""Every API example in the README runs, as written, against a live server on the demo corpus;
and the checked-in OpenAPI schema (docs/openapi.json) matches the code."""

from __future__ import annotations

import json
import os
import re
import subprocess

from tests.conftest import ROOT

OPENAPI = ROOT / "docs" / "openapi.json"


def _examples() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- api-examples -->", 1)[1].split("<!-- /api-examples -->", 1)[0]
    return re.findall(r"```bash\n(.*?)```", block, flags=re.S)


def test_readme_api_examples_run(live):
    base, admin, _ = live
    examples = _examples()
    assert len(examples) >= 5
    env = os.environ | {"CITELINE_URL": base, "CITELINE_KEY": admin}
    outputs = []
    for script in examples:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, (script, done.stdout[-2000:], done.stderr[-2000:])
        outputs.append(done.stdout)
    first = json.loads(outputs[0])
    assert first["decision"] == "answered" and "16 weeks" in first["answer"] and first["citations"]
    assert '"rating":"down"' in outputs[1].replace(" ", "") and "missing the dates" in outputs[1]
    assert "event: final" in outputs[2]
    assert '"status":"queued"' in outputs[3].replace(" ", "")
    assert json.loads(outputs[4])["object"] == "chat.completion"


def test_checked_in_openapi_schema_is_current():
    from citeline.config import load_settings
    from citeline.server.app import create_app

    schema = create_app(load_settings()).openapi()
    current = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_OPENAPI"):
        OPENAPI.write_text(current)
    assert OPENAPI.exists() and OPENAPI.read_text() == current, \
        "docs/openapi.json is stale: run UPDATE_OPENAPI=1 pytest tests/server/test_readme.py"
