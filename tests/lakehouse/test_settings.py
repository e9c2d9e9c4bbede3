"""Settings: prefix, .env, derived locations and the environment handed to child processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.settings import Settings


def test_defaults_live_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "state")
    root = (tmp_path / "state").resolve()
    assert settings.database_url == f"sqlite:///{root / 'strata.db'}"
    assert settings.dagster_dir == root / "dagster"
    assert settings.catalog_url == f"sqlite:///{root / 'iceberg' / 'catalog.db'}"
    assert settings.warehouse == (root / "warehouse").as_uri()
    assert (
        settings.mlflow_tracking_uri.startswith("sqlite:///")
        and str(root) in settings.mlflow_tracking_uri
    )
    assert settings.admin_password is None and settings.secret_key is None
    assert settings.run_mode == "embedded"
    assert settings.dagster_url == "http://127.0.0.1:3000"
    assert Settings(data_dir=tmp_path, dagster_port=3100).dagster_url == "http://127.0.0.1:3100"


def test_environment_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("STRATA_API_PORT=9100\nSTRATA_RUN_MODE=dagster\n")
    monkeypatch.setenv("STRATA_DATABASE_URL", "postgresql://u:p@db/strata")
    monkeypatch.setenv("STRATA_WORKER_PRELOAD", '["pyarrow"]')
    settings = Settings()
    assert settings.api_port == 9100
    assert settings.run_mode == "dagster"
    assert settings.database_url == "postgresql://u:p@db/strata"
    assert settings.worker_preload == ["pyarrow"]


def test_invalid_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATA_RUN_MODE", "ray")
    with pytest.raises(ValueError, match="run_mode"):
        Settings()
    monkeypatch.delenv("STRATA_RUN_MODE")
    monkeypatch.setenv("STRATA_SECRET_KEY", "too-short")
    with pytest.raises(ValueError, match="secret_key"):
        Settings()


def test_as_env_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(
        data_dir=tmp_path, admin_password="s3cret-pass", workers=3, worker_preload=["a", "b"]
    )
    env = original.as_env(with_secrets=True)
    assert "STRATA_ADMIN_PASSWORD" not in original.as_env()
    assert env["DAGSTER_HOME"] == str(original.dagster_dir)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    rebuilt = Settings()
    assert rebuilt.model_dump() == original.model_dump()


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [n for n in Settings.model_fields if f"`STRATA_{n.upper()}`" not in readme]
    assert missing == []
