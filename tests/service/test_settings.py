"""Settings (service/settings.py): read from the environment and mounted files, validated naming the setting,
never parsed at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from service.core.refs import ModelRef
from service.core.split import Weights
from service.settings import Settings


def test_settings_come_from_serving_env_with_mlflow_tracking_uri_as_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://fallback:5000")
    monkeypatch.setenv("SERVING_CACHE_KEY_PREFIX", "pr-12:")
    monkeypatch.setenv("SERVING_MAX_BATCH_ROWS", "50")
    settings = Settings()  # type: ignore[call-arg]
    assert settings.registry_uri == "http://fallback:5000"
    assert (settings.cache_key_prefix, settings.max_batch_rows) == ("pr-12:", 50)
    assert settings.model_ref() == ModelRef("linear_regression", alias="production")
    assert str(settings.model_dir).startswith("/tmp"), "writable with a read-only root filesystem"
    monkeypatch.setenv("SERVING_REGISTRY_URI", "http://mlflow:5000")
    assert Settings().registry_uri == "http://mlflow:5000"  # type: ignore[call-arg]


def test_settings_errors_name_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ValidationError, match="SERVING_REGISTRY_URI"):
        Settings()  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="SERVING_CACHE_URL or SERVING_CACHE_URL_FILE"):
        Settings(registry_uri="http://m", cache_enabled=True)
    with pytest.raises(ValidationError, match="model_uri"):
        Settings(registry_uri="http://m", model_uri="runs:/abc/model")
    with pytest.raises(ValidationError, match="max_batch_rows"):
        Settings(registry_uri="http://m", max_batch_rows=0)


def test_secrets_can_come_from_mounted_files(tmp_path: Path) -> None:
    url_file = tmp_path / "redis-url"
    url_file.write_text("rediss://:token@cache:6379/0\n")
    key_file = tmp_path / "cache-signing-key"
    key_file.write_text("k" * 40 + "\n")
    settings = Settings(
        registry_uri="http://m", cache_enabled=True, cache_url_file=url_file, cache_signing_key_file=key_file
    )
    assert settings.resolved_cache_url() == "rediss://:token@cache:6379/0"
    assert settings.resolved_cache_signing_key() == b"k" * 40
    assert "token" not in repr(Settings(registry_uri="http://m", cache_url="redis://:token@h:1/0"))


def test_every_setting_is_documented() -> None:
    undocumented = [name for name, f in Settings.model_fields.items() if not f.description]
    assert undocumented == []


def test_importing_the_app_parses_no_settings() -> None:
    """Gunicorn imports `service.app` before the factory runs: an import must not need the environment."""
    code = "import service.app, service.settings; print('imported')"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


def test_variant_settings_are_validated_naming_the_setting() -> None:
    base: dict[str, Any] = {"registry_uri": "http://m"}
    with pytest.raises(ValidationError, match="SERVING_AB_WEIGHTS: the weight of challenger must be a number"):
        Settings(**base, challenger_alias="challenger", ab_weights="champion=80,challenger=x")
    with pytest.raises(ValidationError, match="SERVING_SHADOW_FRACTION is above 0: set SERVING_CHALLENGER_ALIAS"):
        Settings(**base, shadow_fraction=0.1)
    with pytest.raises(ValidationError, match="SERVING_AB_WEIGHTS gives the challenger a share"):
        Settings(**base, ab_weights="champion=80,challenger=20")
    with pytest.raises(ValidationError, match="must differ from the champion's alias"):
        Settings(**base, challenger_alias="production")
    with pytest.raises(ValidationError, match="SERVING_CHALLENGER_ALIAS 'a b' is not an alias"):
        Settings(**base, challenger_alias="a b")
    with pytest.raises(ValidationError, match="shadow_fraction"):
        Settings(**base, challenger_alias="challenger", shadow_fraction=1.5)
    with pytest.raises(ValidationError, match="SERVING_DRIFT_WINDOW_ROWS must be 0"):
        Settings(**base, drift_window_rows=50)
    ok = Settings(**base, challenger_alias="challenger", ab_weights="champion=80,challenger=20", shadow_fraction=0.1)
    assert ok.challenger_ref() is not None and ok.challenger_ref().uri == "models:/linear_regression@challenger"  # type: ignore[union-attr]
    assert ok.weights() == Weights(80, 20)
