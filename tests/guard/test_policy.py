import pytest

from citeline.errors import ConfigError
from citeline.guard.policy import GuardPolicy, load_policy
from tests.guard.conftest import POLICY


def test_default_policy_suits_a_support_assistant():
    p = load_policy(None)
    assert p.injection.mode == "enforce" and p.pii.redact_traces and not p.politics.allow_opinions
    assert p.allowed_topics == [] and p.competitors.names == []


def test_demo_policy_loads(demo_policy):
    assert demo_policy.name == "fernhill-demo"
    assert {t.name for t in demo_policy.allowed_topics} >= {"products", "troubleshooting", "people-and-benefits"}
    assert any("Nest" in c.names() for c in demo_policy.competitors.names)
    assert demo_policy.policy_hash() == load_policy(POLICY).policy_hash()


def test_yaml_policy(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("name: y\ncompetitors:\n  names:\n    - name: Acme\n      aliases: [ACME Corp]\ninjection:\n  mode: shadow\n")
    p = load_policy(f)
    assert p.competitors.names[0].aliases == ["ACME Corp"] and p.injection.mode == "shadow"


@pytest.mark.parametrize("text, needle", [
    ("[injection]\nmode = 'sometimes'\n", "injection.mode"),
    ("[topic]\nthreshold = 7\n", "topic.threshold"),
    ("unknown_key = 1\n", "unknown_key"),
    ("[[allowed_topics]]\nname = 'empty'\n", "needs a description or examples"),
    ("not toml [", "cannot parse"),
])
def test_bad_policy_names_the_field(tmp_path, text, needle):
    f = tmp_path / "p.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[")):
        load_policy(f)


def test_missing_policy_file_says_which_setting(tmp_path):
    with pytest.raises(ConfigError, match="guard.policy"):
        load_policy(tmp_path / "nope.toml")


def test_policy_round_trips():
    p = GuardPolicy(name="x")
    assert GuardPolicy(**p.model_dump()) == p
