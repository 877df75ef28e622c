from __future__ import annotations

import pytest

from citeline.config import load_settings
from citeline.errors import ConfigError


def test_defaults_and_hash_is_stable(tmp_path):
    a = load_settings()
    b = load_settings()
    assert a.data_dir.name == ".citeline"
    assert a.config_hash() == b.config_hash()
    assert len(a.config_hash()) == 16


def test_toml_then_env_precedence(tmp_path, monkeypatch):
    cfg = tmp_path / "citeline.toml"
    cfg.write_text('tenant = "acme"\n[ingest]\nworkers = 3\nfile_timeout_s = 12\n[chunking]\ntarget_words = 150\n')
    monkeypatch.setenv("CITELINE_INGEST__WORKERS", "5")
    s = load_settings(cfg)
    assert s.tenant == "acme"
    assert s.ingest.workers == 5  # env beats file
    assert s.ingest.file_timeout_s == 12
    assert s.chunking.target_words == 150
    assert s.config_hash() != load_settings(cfg, chunking={"target_words": 151}).config_hash()


def test_bad_value_names_field_and_value(tmp_path, monkeypatch):
    monkeypatch.setenv("CITELINE_INGEST__WORKERS", "-2")
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert "ingest.workers" in str(e.value) and "-2" in str(e.value)


def test_unknown_key_rejected(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("tenat = 'typo'\n")
    with pytest.raises(ConfigError, match="tenat"):
        load_settings(cfg)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_secret_never_in_hash_or_repr(monkeypatch):
    monkeypatch.setenv("CITELINE_LLM__API_KEY", "sk-very-secret")
    s = load_settings()
    assert s.llm.api_key.get_secret_value() == "sk-very-secret"
    assert "sk-very-secret" not in repr(s) and "sk-very-secret" not in str(s.model_dump())
    monkeypatch.setenv("CITELINE_LLM__API_KEY", "sk-other")
    assert load_settings().config_hash() == s.config_hash()


def test_guard_policy_counts_in_the_config_hash_by_content_not_path(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "sub" / "b.toml"
    b.parent.mkdir()
    a.write_text("[competitors]\nnames = ['Acme']\n")
    b.write_text(a.read_text())
    ha = load_settings(guard={"policy": a}).config_hash()
    assert ha == load_settings(guard={"policy": b}).config_hash()  # same policy, another place
    assert ha != load_settings().config_hash()
    b.write_text("[competitors]\nnames = ['Acme', 'Globex']\n")
    assert load_settings(guard={"policy": b}).config_hash() != ha
