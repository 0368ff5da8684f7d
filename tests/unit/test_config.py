"""Settings precedence (flag > env > file > default) and what the config file configures."""

from __future__ import annotations

import pytest

from charter.bootstrap import policies_from
from charter.config import Settings
from charter.domain.errors import CharterError, InvalidInput
from charter.domain.lifecycle import Stage


def write_config(tmp_path, text: str):
    path = tmp_path / "charter.toml"
    path.write_text(text)
    return path


def test_defaults_put_everything_under_the_home(tmp_path):
    settings = Settings.load({"home": tmp_path}, env={})
    assert settings.database_url == f"sqlite:///{tmp_path / 'charter.db'}"
    assert settings.blob_root == tmp_path / "blobs"
    assert settings.naming_mode == "enforce"


def test_flag_beats_environment_beats_file(tmp_path):
    write_config(tmp_path, '[naming]\nmode = "off"\n')
    env = {"CHARTER_HOME": str(tmp_path), "CHARTER_NAMING_MODE": "warn"}
    assert Settings.load(env={"CHARTER_HOME": str(tmp_path)}).naming_mode == "off"
    assert Settings.load(env=env).naming_mode == "warn"
    assert Settings.load({"naming_mode": "enforce"}, env=env).naming_mode == "enforce"


def test_config_file_extends_word_lists_and_transitions(tmp_path):
    write_config(tmp_path, """
[naming]
allow = ["mark"]
extra_algorithms = ["hgbt"]
[lifecycle]
extra_transitions = [["None", "Archived"]]
""")
    policies = policies_from(Settings.load(env={"CHARTER_HOME": str(tmp_path)}))
    assert [f.code for f in policies.naming.lint("fraud_hgbt")] == ["name.algorithm"]
    assert Stage.ARCHIVED in policies.transitions.allowed_from(Stage.NONE)


def test_a_broken_config_file_is_a_clear_error(tmp_path):
    write_config(tmp_path, "[naming\nmode=")
    with pytest.raises(InvalidInput) as caught:
        Settings.load(env={"CHARTER_HOME": str(tmp_path)})
    assert caught.value.code == "config.invalid"


def test_a_missing_explicit_config_file_is_refused(tmp_path):
    with pytest.raises(CharterError) as caught:
        Settings.load(env={"CHARTER_CONFIG": str(tmp_path / "nope.toml")})
    assert caught.value.code == "config.not_found"



def test_the_checkpoint_key_and_certificate_roots_come_from_the_file_or_the_environment(tmp_path):
    write_config(tmp_path, '[audit]\ncheckpoint_key = "/etc/charter/checkpoint.key"\n'
                           '[signing]\ncertificate_roots = ["/etc/charter/ca.pem"]\n')
    settings = Settings.load({"home": tmp_path}, env={})
    assert str(settings.checkpoint_key) == "/etc/charter/checkpoint.key"
    assert [str(p) for p in settings.certificate_roots] == ["/etc/charter/ca.pem"]
    env = {"CHARTER_CHECKPOINT_KEY": "/run/secrets/ck"}
    assert str(Settings.load({"home": tmp_path}, env=env).checkpoint_key) == "/run/secrets/ck"
    assert Settings.load({"home": tmp_path / "none"}, env={}).checkpoint_key is None


def test_certificate_roots_must_be_a_list_of_paths(tmp_path):
    write_config(tmp_path, '[signing]\ncertificate_roots = "/etc/ca.pem"\n')
    with pytest.raises(InvalidInput) as refused:
        Settings.load({"home": tmp_path}, env={})
    assert "certificate_roots" in refused.value.message


def test_the_answer_cache_size_comes_from_the_flag_the_environment_or_the_file(tmp_path):
    write_config(tmp_path, "[server]\nanswer_cache_mb = 24\n")
    home = {"CHARTER_HOME": str(tmp_path)}
    assert Settings.load({"home": tmp_path / "other"}, env={}).answer_cache_mb == 16
    assert Settings.load(env=home).answer_cache_mb == 24
    assert Settings.load(env={**home, "CHARTER_ANSWER_CACHE_MB": "0"}).answer_cache_mb == 0
    assert Settings.load({"answer_cache_mb": 128}, env=home).answer_cache_mb == 128


def test_the_kept_models_size_comes_from_the_environment_or_the_file(tmp_path):
    write_config(tmp_path, "[server]\nkept_models_mb = 32\n")
    home = {"CHARTER_HOME": str(tmp_path)}
    assert Settings.load({"home": tmp_path / "other"}, env={}).kept_models_mb == 8
    assert Settings.load(env=home).kept_models_mb == 32
    assert Settings.load(env={**home, "CHARTER_KEPT_MODELS_MB": "0"}).kept_models_mb == 0
    with pytest.raises(InvalidInput, match="kept_models_mb"):
        Settings.load({"home": tmp_path}, env={"CHARTER_KEPT_MODELS_MB": "-1"})


@pytest.mark.parametrize("value", ["-1", "lots", "1.5", ""])
def test_an_answer_cache_size_that_is_not_whole_megabytes_is_refused(tmp_path, value):
    with pytest.raises(InvalidInput) as refused:
        Settings.load({"home": tmp_path}, env={"CHARTER_ANSWER_CACHE_MB": value})
    assert refused.value.code == "config.invalid"
    assert "answer_cache_mb" in str(refused.value)
