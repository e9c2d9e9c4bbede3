"""The quickstart profile: upload a 5-D regression dataset as a pickle, train an MLP on it,
predict, and start over; no authentication, confined to the sandbox tenant.

Every step runs on the platform's engine: the pickle lands as a dataset ingested by a Dagster
run into Iceberg tables, the MLP is a predictor trained by a Dagster run and registered in
MLflow, and predictions come from the served model. Responses keep the reference's shapes;
errors are `{"status": "error", "message": ...}`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePath
from typing import Any, BinaryIO, cast

from litestar import Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.openapi.spec import OpenAPIType, Schema
from sqlalchemy.orm import Session

from api import runs
from api.errors import shaped_handlers
from api.multipart import Form
from api.openapi import ERROR_MODEL, FILE, JSON, documented_body
from api.platform import Platform, Sandbox
from api.profiles.quickstart.schemas import (
    Connected,
    Health,
    Predicted,
    QuickstartError,
    RemovedThings,
    ResetDone,
    TargetRange,
    Trained,
    Uploaded,
)
from api.security import PUBLIC
from lakehouse.data import datasets, safe_pickle
from lakehouse.data.formats import pickled_columns
from lakehouse.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
    StrataError,
)
from lakehouse.ml.hyperparameters import checked_hyperparameters
from lakehouse.ml.spec import Algorithm, Attribute, ProblemType
from lakehouse.ml.training import split_rows
from lakehouse.predictors import records
from lakehouse.profiles import sandbox
from lakehouse.states import ValidationState

FEATURES = 5
PICKLE_SUFFIXES = (".pkl", ".pickle")
# The reference's output names, and the MLflow artifacts behind them.
OUTPUTS = {
    "learning_curve.png": "plots/learning_curve.png",
    "predictions_plot.png": "plots/predicted_vs_actual.png",
}


def error_shape(_status: int, message: str, field: str | None) -> dict[str, Any]:
    """The quickstart's errors: `{"status": "error", "message": ...}`, naming a field if any."""
    return {"status": "error", "message": message, **({"field": field} if field else {})}


def the_sandbox(platform: Platform) -> Sandbox:
    if platform.sandbox is None:
        raise ServiceUnavailableError("the quickstart sandbox is not set up")
    return platform.sandbox


@contextmanager
def in_sandbox(platform: Platform) -> Iterator[tuple[Session, Sandbox]]:
    """A session acting in the sandbox, one request at a time: each step reads and replaces
    the sandbox's one dataset and one model."""
    box = the_sandbox(platform)
    if not box.lock.acquire(blocking=False):
        raise ConflictError("the sandbox is busy with another request; try again shortly")
    try:
        with platform.store.session() as db:
            yield db, box
    finally:
        box.lock.release()


def split_sizes(rows: int) -> dict[str, int]:
    """The reference's split sizes of `rows` rows: train_size, val_size, test_size."""
    split = split_rows(rows, seed=0)
    return {
        "train_size": len(split.train),
        "val_size": len(split.validation),
        "test_size": len(split.test),
    }


def checked_dataset(content: Any) -> tuple[int, float, float]:
    """Rows and target range of a 5-D regression dataset; InvalidInputError otherwise."""
    import numpy as np

    if not (isinstance(content, dict) and "X" in content and "y" in content):
        raise InvalidInputError('the pickle must hold a dict with keys "X", "y" and "metadata"')
    pickled_columns(content)  # arrays, X 2-D, y 1-D, as many rows
    features, target = np.asarray(content["X"]), np.asarray(content["y"])
    if features.shape[1] != FEATURES:
        raise InvalidInputError(
            f"X must have shape (n, {FEATURES}); got {features.shape}", field="X"
        )
    for name, values in (("X", features), ("y", target)):
        if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.bool_):
            raise InvalidInputError(f"{name} must hold numbers, not {values.dtype}", field=name)
        if not np.isfinite(values.astype(float)).all():
            raise InvalidInputError(f"{name} holds NaN or infinite values", field=name)
    split_rows(len(target), seed=0)  # refuses too few rows to split
    return len(target), float(target.min()), float(target.max())


@get("/", operation_id="quickstart_root")
async def root() -> Connected:
    """Whether the backend answers."""
    return Connected(message="Backend is connected!")


@get("/health", operation_id="quickstart_health")
async def health() -> Health:
    """Whether the backend runs."""
    return Health(status="ok", detail="Backend is connected and running fine.")


@post(
    "/upload",
    operation_id="quickstart_upload",
    status_code=200,
    sync_to_thread=True,
    operation_class=documented_body({"file": FILE}, required=("file",)),
)
def upload(platform: Platform, form: Form) -> Uploaded:
    """Store a pickled 5-D dataset as the sandbox's dataset: landed, ingested and validated."""
    part = form.get("file")
    if not isinstance(part, UploadFile):
        raise InvalidInputError("send the pickle in the multipart field 'file'", field="file")
    name = PurePath(part.filename or "").name
    if not name.lower().endswith(PICKLE_SUFFIXES):
        raise InvalidInputError("Only pickle files (.pkl, .pickle) are allowed.", field="file")
    try:
        content = safe_pickle.load(part.file)
    except safe_pickle.UnsafePickleError as exc:
        raise InvalidInputError(f"Failed to load pickle: {exc.message}", field="file") from exc
    try:
        rows, low, high = checked_dataset(content)
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"Data preprocessing failed: {exc.message}", field=exc.field
        ) from exc
    part.file.seek(0)
    with in_sandbox(platform) as (db, box):
        try:
            dataset = datasets.create_dataset(
                db,
                box.principal,
                platform.landing,
                datasets.NewDataset(f"upload-{secrets.token_hex(4)}", usage="tp"),
                [datasets.Upload(name, cast("BinaryIO", part.file))],
                platform.settings.max_upload_bytes,
            )
        except StrataError as exc:
            exc.message = f"Failed to save pickle file: {exc.message}"
            raise
        try:
            run = runs.wait_for_run(platform, runs.start_ingestion(db, platform, dataset))
            db.refresh(dataset)
        except StrataError:
            runs.discard_dataset(db, platform, box.principal, dataset.id)
            raise
        if dataset.validation_status != ValidationState.VALID:
            problem = dataset.validation_error or f"ingestion run ended {run.status}"
            runs.discard_dataset(db, platform, box.principal, dataset.id)
            raise InvalidInputError(f"Data preprocessing failed: {problem}", field="file")
        for older in datasets.list_datasets(db, box.principal):
            if older.id != dataset.id:
                runs.remove_dataset(db, platform, box.principal, older.id, runs.Removed())
    return Uploaded(
        status="success",
        message="Pickle dataset uploaded, stored, and preprocessed",
        filename=name,
        num_points=rows,
        num_features=FEATURES,
        target_range=TargetRange(min=low, max=high),
        **split_sizes(rows),
    )


@post(
    "/train",
    operation_id="quickstart_train",
    status_code=200,
    sync_to_thread=True,
    operation_class=documented_body(
        {
            "epochs": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=1000),
            "learning_rate": Schema(type=OpenAPIType.NUMBER, exclusive_minimum=0, maximum=1),
            "hidden_layers": Schema(
                type=OpenAPIType.ARRAY,
                items=Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=4096),
                min_items=1,
                max_items=10,
            ),
        },
        required=("epochs",),
        media_types=(JSON,),
        closed=True,
    ),
)
def train(platform: Platform, data: dict[str, Any]) -> Trained:
    """Train an MLP on the sandbox's dataset: a predictor trained and registered by a run."""
    from lakehouse.ml import registry

    if "epochs" not in data:
        raise InvalidInputError("epochs is required", field="epochs")
    params = {"learning_rate": 0.001, "hidden_layers": [64, 32], **data}
    checked = checked_hyperparameters(Algorithm.MLP, ProblemType.REGRESSION, params)
    with in_sandbox(platform) as (db, box):
        dataset = sandbox.latest_dataset(db, box.principal)
        if dataset is None:
            raise ConflictError("Training failed. No preprocessed dataset found.")
        schema = records.dataset_schema(platform.catalog, dataset)
        names = [c.column_name for c in schema if not c.column_name.startswith("_")]
        columns = [
            {
                "column_name": n,
                "attribute_name": Attribute.FEATURE if i < FEATURES else Attribute.TARGET,
            }
            for i, n in enumerate(names)
        ]
        predictor = records.create_predictor(
            db,
            box.principal,
            platform.catalog,
            records.NewPredictor(
                dataset_id=dataset.id,
                predictor_name=f"mlp-{secrets.token_hex(4)}",
                domain="quickstart",
                problem_type="Regression",
                columns=columns,
                algorithm=Algorithm.MLP.value,
                hyperparameters=checked,
            ),
        )
        runs.wait_for_run(platform, runs.start_training(db, platform, predictor))
        db.refresh(predictor)
        if predictor.model_version is None or predictor.mlflow_run_id is None:
            raise InvalidInputError(f"Training failed: {predictor.training_error}")
        for older in records.list_predictors(db, box.principal):
            if older.id != predictor.id:
                runs.remove_predictor(db, platform, box.principal, older.id, runs.Removed())
        run = registry.training_run(platform.settings, predictor.mlflow_run_id)
        model_name, version = predictor.tables.model_name, predictor.model_version
    return Trained(
        status="success",
        message=f"Model trained for {checked['epochs']} epochs",
        mse=run.metrics["mse"],
        r2=run.metrics["r2"],
        **split_sizes(int(run.params["rows"])),
        model_path=f"models:/{model_name}/{version}",
        training_time_seconds=round(run.metrics.get("fit_seconds", 0.0), 3),
        learning_curve_url="/outputs/learning_curve.png",
        predictions_plot_url="/outputs/predictions_plot.png",
    )


@get("/outputs/{name:str}", operation_id="quickstart_output", sync_to_thread=True)
def output(platform: Platform, name: str) -> Response[bytes]:
    """A plot of the sandbox's current model, from its MLflow run."""
    from lakehouse.ml import registry

    if name not in OUTPUTS:
        raise NotFoundError(f"no output named '{name}'; there are {', '.join(OUTPUTS)}")
    with in_sandbox(platform) as (db, box):
        predictor = sandbox.latest_model(db, box.principal)
        if predictor is None or predictor.mlflow_run_id is None:
            raise NotFoundError(f"no trained model yet, so no {name}")
        run_id = predictor.mlflow_run_id
    image = registry.run_artifact_bytes(platform.settings, run_id, OUTPUTS[name])
    return Response(image, media_type="image/png")


@post(
    "/predict",
    operation_id="quickstart_predict",
    status_code=200,
    sync_to_thread=True,
    operation_class=documented_body(
        {
            "inputs": Schema(
                type=OpenAPIType.ARRAY,
                items=Schema(type=OpenAPIType.NUMBER),
                min_items=FEATURES,
                max_items=FEATURES,
            )
        },
        required=("inputs",),
        media_types=(JSON,),
    ),
)
def predict(platform: Platform, data: dict[str, Any]) -> Predicted:
    """Predict one 5-D point with the sandbox's current model."""
    import math

    inputs = data.get("inputs")
    if not (
        isinstance(inputs, list)
        and len(inputs) == FEATURES
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in inputs
        )
    ):
        raise InvalidInputError(
            f"Prediction failed: inputs must be a list of exactly {FEATURES} finite numbers",
            field="inputs",
        )
    with in_sandbox(platform) as (db, box):
        predictor = sandbox.latest_model(db, box.principal)
        if predictor is None:
            raise ConflictError(
                "No trained model found. Please train the model first via /train endpoint."
            )
        model = platform.served(predictor)
        features = records.feature_columns(predictor)
    answer = model.predict(dict(zip(features, inputs, strict=True)))
    return Predicted(status="success", inputs=inputs, prediction=answer.prediction)


@post("/reset", operation_id="quickstart_reset", status_code=200, sync_to_thread=True)
def reset(platform: Platform) -> ResetDone:
    """Remove the sandbox's datasets, tables, files and models."""
    removed = runs.Removed()
    with in_sandbox(platform) as (db, box):
        for predictor in records.list_predictors(db, box.principal):
            runs.remove_predictor(db, platform, box.principal, predictor.id, removed)
        for dataset in datasets.list_datasets(db, box.principal):
            runs.remove_dataset(db, platform, box.principal, dataset.id, removed)
    return ResetDone(
        status="success",
        removed=RemovedThings(
            uploads=removed.files,
            outputs=[f"models:/{name}" for name in removed.models] + removed.tables,
        ),
    )


def quickstart_router() -> Router:
    return Router(
        path="/",
        route_handlers=[root, health, upload, train, output, predict, reset],
        tags=["Quickstart"],
        opt={**PUBLIC, ERROR_MODEL: QuickstartError},
        exception_handlers=shaped_handlers(error_shape),
    )
