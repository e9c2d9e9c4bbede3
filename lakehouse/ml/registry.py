"""MLflow as the record of every training: runs with params, metrics and plots, and one
registered model per tenant and predictor whose versions the API serves."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.errors import NotFoundError
from lakehouse.lake.naming import tenant_namespace
from lakehouse.ml.spec import ProblemType, TrainedModel
from lakehouse.ml.tracking import tracking_client
from lakehouse.settings import Settings

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from mlflow import MlflowClient

MODEL_ARTIFACT = "model"
# A registered version carries the lakehouse package as code, and loads through its model file.
LAKEHOUSE = Path(__file__).resolve().parents[1]
MODEL_CODE = LAKEHOUSE / "mlflow_model.py"
PREDICTOR_TAG = "strata.predictor_id"
TENANT_TAG = "strata.tenant_id"
# Strata's column types as MLflow's.
COLUMN_TYPES = {"Boolean": "boolean", "Integer": "long", "Float": "double", "DateTime": "datetime"}


@dataclass(frozen=True)
class RegisteredVersion:
    run_id: str
    version: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class TrainingRecord:
    """What one training run records besides the model: who, on what, with which settings."""

    tenant_id: str
    predictor_id: int | None
    """The predictor trained, None for a model of the orchestrator profile's ledger."""
    model_name: str
    run_name: str
    params: Mapping[str, Any]
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the run, the registered model and the version, besides the tenant's."""


def experiment_id(client: MlflowClient, settings: Settings, tenant_id: str) -> str:
    """The tenant's experiment, created on first use with its artifacts under the artifact root."""
    name = f"strata/{tenant_namespace(tenant_id)}"
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = f"{settings.mlflow_artifact_root.rstrip('/')}/{tenant_namespace(tenant_id)}"
    return str(client.create_experiment(name, artifact_location=location))


def signature_of(model: TrainedModel) -> Any:
    """The input columns with their types (optional when training saw gaps) and the outputs."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs: list[Any] = [
        ColSpec(COLUMN_TYPES.get(f.data_type, "string"), f.column_name, required=f.required)
        for f in model.inputs
    ]
    kind = {ProblemType.CLASSIFICATION: "string", ProblemType.CLUSTERING: "long"}.get(
        model.problem_type, "double"
    )
    outputs: list[Any] = [ColSpec(kind, "prediction")]
    outputs += [ColSpec("double", f"probability_{label}") for label in model.classes or []]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def pip_requirements(model: TrainedModel) -> list[str]:
    """Pinned requirements of the model's code path, given rather than inferred (slow)."""
    from importlib.metadata import version

    packages = ["mlflow", "scikit-learn", "skops", "pandas", "numpy", "pyarrow"]
    name = type(model.pipeline.named_steps["model"]).__module__.split(".")[0]
    if name in ("xgboost", "lightgbm"):
        packages.append(name)
    return [f"{package}=={version(package)}" for package in packages]


def plots(model: TrainedModel) -> dict[str, Figure]:
    """The evaluation plots of a model: confusion matrix and ROC, or predicted vs actual;
    and its learning curve."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay, PredictionErrorDisplay, RocCurveDisplay

    evaluation = model.evaluation
    if evaluation is None:
        return {}
    figures: dict[str, Figure] = {}
    if model.classes is not None:
        figure = Figure(figsize=(6, 5))
        ConfusionMatrixDisplay.from_predictions(
            evaluation.truth,
            evaluation.predicted,
            labels=list(range(len(model.classes))),
            display_labels=[str(c) for c in model.classes],
            ax=figure.subplots(),
            colorbar=False,
        )
        figures["plots/confusion_matrix.png"] = figure
        figure = Figure(figsize=(6, 5))
        ConfusionMatrixDisplay.from_predictions(
            evaluation.truth,
            evaluation.predicted,
            labels=list(range(len(model.classes))),
            display_labels=[str(c) for c in model.classes],
            normalize="true",
            values_format=".2f",
            ax=figure.subplots(),
            colorbar=False,
        )
        figure.axes[0].set_title("Share of each true class")
        figures["plots/confusion_matrix_normalized.png"] = figure
        if evaluation.probabilities is not None and len(model.classes) == 2:
            figure = Figure(figsize=(6, 5))
            RocCurveDisplay.from_predictions(
                evaluation.truth, evaluation.probabilities[:, 1], ax=figure.subplots()
            )
            figures["plots/roc_curve.png"] = figure
    else:
        figure = Figure(figsize=(6, 5))
        PredictionErrorDisplay.from_predictions(
            evaluation.truth, evaluation.predicted, kind="actual_vs_predicted", ax=figure.subplots()
        )
        figures["plots/predicted_vs_actual.png"] = figure
    if evaluation.loss_curve:
        figure = Figure(figsize=(6, 4))
        axes = figure.subplots()
        axes.plot(range(1, len(evaluation.loss_curve) + 1), evaluation.loss_curve)
        axes.set_xlabel("epoch")
        axes.set_ylabel("training loss")
        axes.set_title("Learning curve")
        figures["plots/learning_curve.png"] = figure
    elif evaluation.learning_curve:
        figure = Figure(figsize=(6, 4))
        axes = figure.subplots()
        sizes, scores = zip(*evaluation.learning_curve, strict=True)
        axes.plot(sizes, scores, marker="o")
        axes.set_xlabel("training rows")
        axes.set_ylabel(f"validation {evaluation.metric}")
        axes.set_title("Learning curve")
        figures["plots/learning_curve.png"] = figure
    return figures


def record_training(
    settings: Settings, record: TrainingRecord, model: TrainedModel, rows: int
) -> RegisteredVersion:
    """Log a training as an MLflow run and register its model as a new version."""
    import mlflow

    from lakehouse.model_files import save_model

    client = tracking_client(settings)
    experiment = experiment_id(client, settings, record.tenant_id)
    tags = {TENANT_TAG: record.tenant_id, **record.tags}
    if record.predictor_id is not None:
        tags[PREDICTOR_TAG] = str(record.predictor_id)
    with (
        mlflow.start_run(experiment_id=experiment, run_name=record.run_name, tags=tags) as run,
        tempfile.TemporaryDirectory(prefix="strata-model-") as scratch,
    ):
        mlflow.log_params(
            {
                **record.params,
                "trained_algorithm": model.algorithm.value,
                "model_class": type(model.pipeline.named_steps["model"]).__name__,
                "rows": rows,
                "features": len(model.features),
            }
        )
        mlflow.log_metrics(
            {
                **{k: v for k, v in model.metrics.items() if v == v},  # NaN is no measurement
                **{f"validation_{name}": value for name, value in model.candidates.items()},
                **({"fit_seconds": model.fit_seconds} if model.fit_seconds is not None else {}),
            }
        )
        if model.confusion_matrix is not None:
            mlflow.log_dict({"confusion_matrix": model.confusion_matrix}, "confusion_matrix.json")
        for path, figure in plots(model).items():
            mlflow.log_figure(figure, path)
        directory = Path(scratch) / MODEL_ARTIFACT
        save_model(model, directory)
        if record.model_name not in {
            m.name
            for m in client.search_registered_models(filter_string=f"name = '{record.model_name}'")
        }:
            client.create_registered_model(record.model_name, tags=tags)
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=str(MODEL_CODE),
            artifacts={MODEL_ARTIFACT: str(directory)},
            code_paths=[str(LAKEHOUSE)],
            signature=signature_of(model),
            pip_requirements=pip_requirements(model),
            registered_model_name=record.model_name,
        )
    assert info.registered_model_version is not None
    version = int(info.registered_model_version)
    try:
        for key, value in tags.items():
            if key != TENANT_TAG:
                client.set_model_version_tag(record.model_name, str(version), key, value)
        metrics = dict(client.get_run(run.info.run_id).data.metrics)
    except BaseException:
        delete_model_version(settings, record.model_name, version)
        raise
    return RegisteredVersion(run_id=run.info.run_id, version=version, metrics=metrics)


def delete_model_version(settings: Settings, model_name: str, version: int) -> None:
    """Withdraw a version registered by a training that then failed to complete."""
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):
        tracking_client(settings).delete_model_version(model_name, str(version))


def model_directory(settings: Settings, model_name: str, version: int, into: Path) -> Path:
    """Download a registered version's model files; NotFoundError when it is gone."""
    from mlflow.exceptions import MlflowException

    client = tracking_client(settings)
    try:
        source = client.get_model_version_download_uri(model_name, str(version))
    except MlflowException as exc:
        raise NotFoundError(f"model {model_name} version {version} not found") from exc
    import mlflow

    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{source.rstrip('/')}/artifacts/{MODEL_ARTIFACT}", dst_path=str(into)
    )
    return Path(local)


def load_version(settings: Settings, model_name: str, version: int) -> TrainedModel:
    """A registered version's model, loaded from its skops files; NotFoundError when gone."""
    from lakehouse.model_files import load_model

    with tempfile.TemporaryDirectory(prefix="strata-model-") as scratch:
        return load_model(model_directory(settings, model_name, version, Path(scratch)))


@dataclass(frozen=True)
class RunRecord:
    params: dict[str, str]
    metrics: dict[str, float]


def training_run(settings: Settings, run_id: str) -> RunRecord:
    """A training run's params and metrics; NotFoundError when the run is gone."""
    from mlflow.exceptions import MlflowException

    try:
        data = tracking_client(settings).get_run(run_id).data
    except MlflowException as exc:
        raise NotFoundError(f"MLflow run {run_id} not found", field="train_id") from exc
    return RunRecord(params=dict(data.params), metrics=dict(data.metrics))


def run_artifact(settings: Settings, run_id: str, path: str, into: Path) -> Path:
    """One artifact of a run, downloaded into `into`."""
    from mlflow.exceptions import MlflowException

    client = tracking_client(settings)
    try:
        return Path(client.download_artifacts(run_id, path, str(into)))
    except (MlflowException, OSError) as exc:
        raise NotFoundError(f"artifact {path} of run {run_id} not found") from exc


def run_artifact_bytes(settings: Settings, run_id: str, path: str) -> bytes:
    """The content of one (small) artifact of a run: a plot, a JSON document."""
    with tempfile.TemporaryDirectory(prefix="strata-artifact-") as scratch:
        found = run_artifact(settings, run_id, path, Path(scratch))
        if not found.is_file():  # a folder of artifacts
            raise NotFoundError(f"artifact {path} of run {run_id} is not a file")
        return found.read_bytes()


def artifact_names(settings: Settings, run_id: str, folder: str) -> set[str]:
    """The names of the artifacts in one folder of a run (none when the run is gone)."""
    from mlflow.exceptions import MlflowException

    try:
        listed = tracking_client(settings).list_artifacts(run_id, folder)
    except (MlflowException, OSError):
        return set()
    return {Path(item.path).name for item in listed if not item.is_dir}


def delete_registered_model(settings: Settings, model_name: str) -> bool:
    """Delete the model with all its versions; False when there was none."""
    from mlflow.exceptions import MlflowException

    client = tracking_client(settings)
    try:
        client.delete_registered_model(model_name)
    except MlflowException:
        return False
    return True


def log_feature_importance(
    settings: Settings, run_id: str, importance: Mapping[str, float], figure: Figure
) -> None:
    """Add a training run's SHAP values (mean |SHAP| per feature) and summary plot."""
    client = tracking_client(settings)
    client.log_dict(run_id, dict(importance), "shap/feature_importance.json")
    client.log_figure(run_id, figure, "shap/summary.png")


def log_documents(settings: Settings, run_id: str, documents: Mapping[str, Any]) -> None:
    """Add JSON documents to a run, each at its artifact path."""
    client = tracking_client(settings)
    for path, document in documents.items():
        client.log_dict(run_id, document, path)


def run_document(settings: Settings, run_id: str, path: str) -> Any:
    """A JSON document of a run; NotFoundError when it is not there."""
    import json

    return json.loads(run_artifact_bytes(settings, run_id, path))
