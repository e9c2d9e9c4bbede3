"""MLflow as the training record, on a real SQLite tracking store under tmp: runs with their
params, metrics and plots, registered versions numbered and tagged, model files that load
back with the same answers, tenant experiments, deletion and the store's health check."""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lakehouse.errors import NotFoundError
from lakehouse.lake.naming import tenant_namespace
from lakehouse.ml.registry import (
    PREDICTOR_TAG,
    TENANT_TAG,
    RegisteredVersion,
    TrainingRecord,
    delete_registered_model,
    experiment_id,
    model_directory,
    record_training,
    run_artifact_bytes,
    training_run,
)
from lakehouse.ml.spec import (
    Algorithm,
    Attribute,
    ColumnRole,
    ProblemType,
    TrainedModel,
    TrainingSpec,
)
from lakehouse.ml.tracking import check_tracking_store, tracking_client
from lakehouse.ml.training import train
from lakehouse.model_files import load_model
from lakehouse.settings import Settings
from tests.conftest import make_settings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROWS = 300
FEATURES = ["x1", "x2", "x3", "color"]
PLOTS = [
    "plots/confusion_matrix.png",
    "plots/confusion_matrix_normalized.png",
    "plots/learning_curve.png",
    "plots/roc_curve.png",
]


def churn_table(seed: int = 7) -> pa.Table:
    """A binary target driven by two numbers and a colour; x3 is noise with gaps."""
    rng = np.random.default_rng(seed)
    x1, x2, x3 = rng.normal(size=ROWS), rng.normal(size=ROWS), rng.normal(size=ROWS)
    x3[::10] = np.nan
    color = rng.choice(["red", "green", "blue"], ROWS)
    logit = 1.5 * x1 - x2 + (color == "red") + rng.normal(scale=0.5, size=ROWS)
    label = np.where(logit > 0, "churned", "stayed")
    return pa.table({"x1": x1, "x2": x2, "x3": x3, "color": color, "label": label})


def churn_spec() -> TrainingSpec:
    roles = [ColumnRole(name, Attribute.FEATURE) for name in FEATURES]
    roles.append(ColumnRole("label", Attribute.TARGET))
    return TrainingSpec(ProblemType.CLASSIFICATION, roles, Algorithm.LINEAR)


def new_tenant() -> str:
    return str(uuid.uuid4())


def record_for(tenant_id: str, predictor_id: int, name: str, **params: Any) -> TrainingRecord:
    return TrainingRecord(
        tenant_id=tenant_id,
        predictor_id=predictor_id,
        model_name=f"{tenant_namespace(tenant_id)}.{name}",
        run_name=f"{name} (full)",
        params={"predictor_name": name, "seed": 42, **params},
    )


@dataclass(frozen=True)
class Registered:
    """One predictor registered twice: a first training, then a retraining of it."""

    root: Path
    settings: Settings
    table: pa.Table
    model: TrainedModel
    retrained: TrainedModel
    record: TrainingRecord
    first: RegisteredVersion
    second: RegisteredVersion


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registered]:
    root = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as patch:  # the autouse isolation is per test
        for name in list(os.environ):
            if name.startswith("STRATA_"):
                patch.delenv(name)
        patch.chdir(root)
        settings = make_settings(root)
        table = churn_table()
        model = train(table, churn_spec())
        record = record_for(new_tenant(), 7, "churn", is_incremental=False)
        first = record_training(settings, record, model, ROWS)
        # The retraining judged candidates and measured one metric as NaN (no measurement).
        retrained = replace(
            model,
            metrics={**model.metrics, "roc_auc": math.nan},
            candidates={"Linear": 0.875, "RandomForest": 0.8},
        )
        again = replace(record, params={**record.params, "is_incremental": True})
        second = record_training(settings, again, retrained, 250)
        yield Registered(root, settings, table, model, retrained, record, first, second)


def expected_params(record: TrainingRecord, rows: int) -> dict[str, str]:
    logged = {
        **record.params,
        "trained_algorithm": "Linear",
        "model_class": "LogisticRegression",
        "rows": rows,
        "features": len(FEATURES),
    }
    return {name: str(value) for name, value in logged.items()}


def test_the_default_tracking_store_is_a_sqlite_file_under_the_data_dir(
    registered: Registered,
) -> None:
    database = registered.root / "data" / "mlflow" / "mlflow.db"
    assert registered.settings.mlflow_tracking_uri == f"sqlite:///{database}"
    assert database.is_file()
    artifacts = (registered.root / "data" / "mlflow" / "artifacts").as_uri()
    assert registered.settings.mlflow_artifact_root == artifacts


def test_a_recorded_training_is_a_run_with_params_metrics_and_tags(
    registered: Registered,
) -> None:
    client = tracking_client(registered.settings)
    run = client.get_run(registered.first.run_id)
    tenant = registered.record.tenant_id
    assert run.info.run_name == "churn (full)"
    assert run.info.experiment_id == experiment_id(client, registered.settings, tenant)
    assert run.data.tags[TENANT_TAG] == tenant
    assert run.data.tags[PREDICTOR_TAG] == "7"
    assert run.data.params == expected_params(registered.record, ROWS)
    logged = {**registered.model.metrics, "fit_seconds": registered.model.fit_seconds}
    assert run.data.metrics == pytest.approx(logged, rel=1e-12)
    assert registered.first.metrics == run.data.metrics
    assert {"accuracy", "roc_auc", "cv_accuracy_mean"} <= set(run.data.metrics)


def test_a_retraining_logs_validation_scores_and_leaves_out_nan_metrics(
    registered: Registered,
) -> None:
    metrics = registered.second.metrics
    assert "roc_auc" not in metrics
    assert metrics["validation_Linear"] == pytest.approx(0.875)
    assert metrics["validation_RandomForest"] == pytest.approx(0.8)
    assert metrics["accuracy"] == pytest.approx(registered.retrained.metrics["accuracy"])
    assert registered.second.run_id != registered.first.run_id


def test_registered_versions_are_numbered_in_order_and_tagged(registered: Registered) -> None:
    client = tracking_client(registered.settings)
    name = registered.record.model_name
    assert (registered.first.version, registered.second.version) == (1, 2)
    versions = {
        int(v.version): v for v in client.search_model_versions(filter_string=f"name = '{name}'")
    }
    assert sorted(versions) == [1, 2]
    assert versions[1].run_id == registered.first.run_id
    assert versions[2].run_id == registered.second.run_id
    for version in versions.values():
        assert version.tags[PREDICTOR_TAG] == "7"
    model = client.get_registered_model(name)
    assert model.tags == {TENANT_TAG: registered.record.tenant_id, PREDICTOR_TAG: "7"}


def test_a_registered_version_has_the_models_signature(registered: Registered) -> None:
    import mlflow

    tracking_client(registered.settings)
    info = mlflow.models.get_model_info(f"models:/{registered.record.model_name}/1")
    inputs = {spec.name: spec for spec in info.signature.inputs.inputs}
    assert list(inputs) == FEATURES
    assert {name: spec.required for name, spec in inputs.items()} == {
        "x1": True,
        "x2": True,
        "x3": False,  # training saw gaps
        "color": True,
    }
    assert inputs["x1"].type.name == "double" and inputs["color"].type.name == "string"
    outputs = [spec.name for spec in info.signature.outputs.inputs]
    assert outputs == ["prediction", "probability_churned", "probability_stayed"]


def test_training_run_reads_back_the_logged_params_and_metrics(registered: Registered) -> None:
    first = training_run(registered.settings, registered.first.run_id)
    assert first.params == expected_params(registered.record, ROWS)
    assert first.metrics == registered.first.metrics
    second = training_run(registered.settings, registered.second.run_id)
    assert second.params["is_incremental"] == "True" and second.params["rows"] == "250"
    assert second.metrics == registered.second.metrics


def test_training_run_of_an_unknown_run_is_not_found(registered: Registered) -> None:
    with pytest.raises(NotFoundError, match="not found") as raised:
        training_run(registered.settings, uuid.uuid4().hex)
    assert raised.value.field == "train_id"


def test_model_directory_loads_a_model_with_the_same_predictions(
    registered: Registered, tmp_path: Path
) -> None:
    directory = model_directory(registered.settings, registered.record.model_name, 1, tmp_path)
    assert directory.is_relative_to(tmp_path)
    loaded = load_model(directory)
    original = registered.model
    frame = registered.table.to_pandas()
    assert loaded.features == original.features == FEATURES
    assert loaded.classes == original.classes == ["churned", "stayed"]
    assert loaded.metrics == original.metrics
    assert loaded.confusion_matrix == original.confusion_matrix
    assert list(loaded.predict(frame)) == list(original.predict(frame))
    loaded_probabilities = loaded.predict_proba(frame)
    original_probabilities = original.predict_proba(frame)
    assert loaded_probabilities is not None and original_probabilities is not None
    np.testing.assert_array_equal(loaded_probabilities, original_probabilities)


def test_a_registered_version_predicts_through_mlflow_pyfunc(registered: Registered) -> None:
    import mlflow

    tracking_client(registered.settings)
    served = mlflow.pyfunc.load_model(f"models:/{registered.record.model_name}/2")
    frame = registered.table.to_pandas().head(40)
    answers = served.predict(frame[FEATURES])
    assert isinstance(answers, pd.DataFrame)
    assert list(answers["prediction"]) == list(registered.model.predict(frame))
    probabilities = registered.model.predict_proba(frame)
    assert probabilities is not None
    np.testing.assert_allclose(answers["probability_churned"], probabilities[:, 0])
    np.testing.assert_allclose(answers["probability_stayed"], probabilities[:, 1])


def test_model_directory_of_an_unknown_version_is_not_found(
    registered: Registered, tmp_path: Path
) -> None:
    name = registered.record.model_name
    with pytest.raises(NotFoundError, match=f"model {name} version 9 not found"):
        model_directory(registered.settings, name, 9, tmp_path)
    with pytest.raises(NotFoundError, match="version 1 not found"):
        model_directory(registered.settings, "t_0.never_registered", 1, tmp_path)


def test_run_artifacts_hold_png_plots_and_the_confusion_matrix(registered: Registered) -> None:
    client = tracking_client(registered.settings)
    run_id = registered.first.run_id
    assert sorted(a.path for a in client.list_artifacts(run_id, "plots")) == PLOTS
    sizes = set()
    for path in PLOTS:
        image = run_artifact_bytes(registered.settings, run_id, path)
        assert image.startswith(PNG_SIGNATURE), path
        sizes.add(len(image))
    assert len(sizes) > 1  # four different pictures, not one file four times
    document = json.loads(run_artifact_bytes(registered.settings, run_id, "confusion_matrix.json"))
    assert document == {"confusion_matrix": registered.model.confusion_matrix}
    assert sum(map(sum, document["confusion_matrix"])) == 45  # the 15% test rows of 300


def test_a_missing_artifact_is_not_found(registered: Registered) -> None:
    run_id = registered.first.run_id
    with pytest.raises(NotFoundError, match=f"artifact plots/shap.png of run {run_id} not found"):
        run_artifact_bytes(registered.settings, run_id, "plots/shap.png")
    with pytest.raises(NotFoundError, match="not found"):
        run_artifact_bytes(registered.settings, run_id, "../../mlflow.db")
    unknown = uuid.uuid4().hex
    with pytest.raises(NotFoundError, match=f"of run {unknown} not found"):
        run_artifact_bytes(registered.settings, unknown, "plots/roc_curve.png")
    with pytest.raises(NotFoundError, match=f"artifact plots of run {run_id} is not a file"):
        run_artifact_bytes(registered.settings, run_id, "plots")


def test_deleting_a_registered_model_removes_every_version(
    registered: Registered, tmp_path: Path
) -> None:
    settings = registered.settings
    record = record_for(registered.record.tenant_id, 8, "doomed")
    versions = [record_training(settings, record, registered.model, ROWS).version for _ in "ab"]
    assert versions == [1, 2]
    client = tracking_client(settings)
    name = record.model_name
    assert delete_registered_model(settings, name) is True
    assert client.search_registered_models(filter_string=f"name = '{name}'") == []
    assert list(client.search_model_versions(filter_string=f"name = '{name}'")) == []
    for version in versions:
        with pytest.raises(NotFoundError):
            model_directory(settings, name, version, tmp_path)
    assert delete_registered_model(settings, name) is False
    assert delete_registered_model(settings, "t_0.never_registered") is False
    # The other predictor's model is untouched.
    kept = client.search_model_versions(filter_string=f"name = '{registered.record.model_name}'")
    assert len(list(kept)) == 2


def test_each_tenant_has_its_own_experiment(registered: Registered) -> None:
    settings = registered.settings
    client = tracking_client(settings)
    one, other = new_tenant(), new_tenant()
    first = experiment_id(client, settings, one)
    assert experiment_id(client, settings, one) == first
    second = experiment_id(client, settings, other)
    assert second != first
    for tenant, found in ((one, first), (other, second)):
        experiment = client.get_experiment(found)
        assert experiment.name == f"strata/{tenant_namespace(tenant)}"
        root = settings.mlflow_artifact_root
        assert experiment.artifact_location == f"{root}/{tenant_namespace(tenant)}"
    shared = experiment_id(client, settings, registered.record.tenant_id)
    assert shared not in (first, second)
    assert client.get_run(registered.first.run_id).info.experiment_id == shared


def test_check_tracking_store_counts_experiments_on_a_fresh_store(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    database = tmp_path / "data" / "mlflow" / "mlflow.db"
    assert not database.exists()
    assert check_tracking_store(settings) == 1  # MLflow's own Default experiment
    assert database.is_file()
    client = tracking_client(settings)
    for _ in range(2):
        experiment_id(client, settings, new_tenant())
    assert check_tracking_store(settings) == 3
    for _ in range(11):  # every experiment is counted, not only a first few
        experiment_id(client, settings, new_tenant())
    assert check_tracking_store(settings) == 14
