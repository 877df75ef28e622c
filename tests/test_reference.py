"""The generated references (docs/cli.md, docs/configuration.md) match the code."""

from __future__ import annotations

import os

import pytest

from citeline.reference import cli_reference, config_reference
from tests.conftest import ROOT


@pytest.mark.parametrize("name,make", [("cli.md", cli_reference), ("configuration.md", config_reference)])
def test_checked_in_reference_is_current(name, make):
    path = ROOT / "docs" / name
    current = make()
    if os.environ.get("UPDATE_DOCS"):
        path.write_text(current, encoding="utf-8")
    assert path.exists() and path.read_text(encoding="utf-8") == current, \
        f"docs/{name} is stale: run UPDATE_DOCS=1 pytest tests/test_reference.py"


def test_every_command_and_setting_is_documented():
    cli = cli_reference()
    for command in ("citeline ingest", "citeline ask", "citeline eval gate", "citeline eval run", "citeline serve",
                    "citeline keys create", "citeline guard check", "citeline redteam"):
        assert f"## `{command}`" in cli, command
    assert "`--max-drop`" in cli and "`--repeats`" in cli
    cfg = config_reference()
    for key in ("retrieval.top_k", "answer.decline_threshold", "llm.base_url", "server.port", "guard.policy"):
        assert f"| `{key}` |" in cfg, key
    assert "SecretStr" not in cfg
