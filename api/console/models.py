"""The console's model pages: the tenant's predictors and a form to train one, and a model's
metrics, evaluation plots (from its MLflow run), SHAP importance, a prediction form built from
its inputs, and its batch predictions with their CSV files."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Stream, Template
from sqlalchemy.orm import Session

from api import runs
from api.console.session import MAX_NAME, PREFIX, form_id, form_status, page
from api.controllers.models.inference import PREDICT, log_answer
from api.controllers.models.train import READ, TRAIN
from api.downloads import landed_file
from api.platform import Platform
from api.schemas.base import PathId
from lakehouse.charts import forecast_figure, png
from lakehouse.data import datasets
from lakehouse.errors import ConflictError, InvalidInputError, NotFoundError, StrataError
from lakehouse.ml.spec import Algorithm, Attribute, ProblemType
from lakehouse.predictors import batch, importance, records
from lakehouse.states import ValidationState, WorkState
from lakehouse.store import Predictor

FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
PROBLEMS = [ProblemType.CLASSIFICATION, ProblemType.REGRESSION]
ROLES = [Attribute.FEATURE, Attribute.ID, Attribute.IGNORE]
PLOTS = {
    "confusion_matrix.png": "Confusion matrix",
    "confusion_matrix_normalized.png": "Confusion matrix, share of each true class",
    "roc_curve.png": "ROC curve",
    "predicted_vs_actual.png": "Predicted against actual",
    "learning_curve.png": "Learning curve",
}
WORKING = (WorkState.SUBMITTED, WorkState.RUNNING, "pending")
MAX_SERIES = 500  # series offered for a forecast
Steps = Annotated[int, Parameter(ge=1, le=1000)]


def model_summary(platform: Platform, predictor: Predictor) -> dict[str, Any]:
    status, error = runs.training_state(platform.gateway, predictor)
    return {
        "id": predictor.id,
        "name": predictor.predictor_name,
        "problem": predictor.problem_type,
        "algorithm": predictor.trained_algorithm or predictor.algorithm,
        "status": status,
        "error": error,
        "working": status in WORKING,
        "accuracy": predictor.accuracy,
        "version": predictor.model_version,
        "dataset": predictor.dataset.dataset_name if predictor.dataset else None,
        "created_at": predictor.created_at,
    }


def trainable(db: Session, request: Request[Any, Any, Any]) -> list[Any]:
    return [
        d
        for d in datasets.list_datasets(db, request.user)
        if d.validation_status == ValidationState.VALID and "t" in d.usage
    ]


@get("/models", guards=READ, sync_to_thread=True, include_in_schema=False)
def model_list(request: Request[Any, Any, Any], db: Session, platform: Platform) -> Template:
    """The tenant's predictors with their state and headline metric, and where to train one."""
    found = [model_summary(platform, p) for p in records.list_predictors(db, request.user)]
    return page(request, "models.html", models=found, datasets=trainable(db, request))


def training_form(
    request: Request[Any, Any, Any],
    db: Session,
    platform: Platform,
    dataset_id: int,
    status_code: int = 200,
    **context: Any,
) -> Template:
    dataset = datasets.get_dataset(db, request.user, dataset_id)
    columns = records.dataset_schema(platform.catalog, dataset)
    return page(
        request,
        "train.html",
        status_code,
        dataset=dataset,
        columns=columns,
        problems=PROBLEMS,
        algorithms=[a for a in Algorithm if a is not Algorithm.KMEANS],
        roles=ROLES,
        **context,
    )


@get("/models/new", guards=TRAIN, sync_to_thread=True, include_in_schema=False)
def new_model(
    request: Request[Any, Any, Any], db: Session, platform: Platform, dataset_id: PathId
) -> Template:
    """The training form of a dataset: name, problem, algorithm, the target and each other
    column's role."""
    return training_form(request, db, platform, dataset_id, values={})


@post("/models/new", guards=TRAIN, sync_to_thread=True, include_in_schema=False)
def train(
    request: Request[Any, Any, Any], db: Session, platform: Platform, data: FormData
) -> Response[Any]:
    """Create the predictor and start its training; a refusal answers the form again with
    the error beside its field."""
    dataset_id = form_id(data.get("dataset_id"), "dataset_id", "a dataset")
    dataset = datasets.get_dataset(db, request.user, dataset_id)
    target = data.get("target", "")
    columns = []
    for column in records.dataset_schema(platform.catalog, dataset):
        role = data.get(f"role:{column.column_name}", Attribute.FEATURE)
        if column.column_name == target:
            role = Attribute.TARGET
        columns.append({"column_name": column.column_name, "attribute_name": role})
    name = data.get("predictor_name", "").strip()
    domain = data.get("domain", "").strip() or "general"
    try:
        if not name or len(name) > MAX_NAME:
            raise InvalidInputError(
                f"name the model in 1 to {MAX_NAME} characters", field="predictor_name"
            )
        if not target:
            raise InvalidInputError("pick the column to predict", field="target")
        predictor = records.create_predictor(
            db,
            request.user,
            platform.catalog,
            records.NewPredictor(
                dataset_id=dataset.id,
                predictor_name=name,
                domain=domain[:MAX_NAME],
                problem_type=data.get("problem_type", ""),
                columns=columns,
                algorithm=data.get("algorithm") or None,
                shap_enabled=data.get("shap_enabled") == "on",
            ),
        )
        runs.start_training(db, platform, predictor)
    except StrataError as exc:
        db.rollback()
        errors = {exc.field or "": exc.message}
        status = form_status(exc)
        return training_form(request, db, platform, dataset_id, status, values=data, errors=errors)
    return Redirect(f"{PREFIX}/models/{predictor.id}", status_code=303)


def plots_of(platform: Platform, predictor: Predictor) -> list[tuple[str, str]]:
    """The evaluation plots the model's MLflow run holds, with their titles."""
    from lakehouse.ml import registry

    if predictor.mlflow_run_id is None:
        return []
    held = registry.artifact_names(platform.settings, predictor.mlflow_run_id, "plots")
    return [(name, title) for name, title in PLOTS.items() if name in held]


def model_page(
    request: Request[Any, Any, Any],
    db: Session,
    platform: Platform,
    predictor: Predictor,
    status_code: int = 200,
    **context: Any,
) -> Template:
    from lakehouse.ml import registry

    about = model_summary(platform, predictor)
    metrics: dict[str, float] = {}
    inputs: list[Any] = []
    series: list[str] = []
    unavailable = None
    if predictor.mlflow_run_id is not None:
        try:
            metrics = registry.training_run(platform.settings, predictor.mlflow_run_id).metrics
            served = platform.served(predictor)
        except StrataError as exc:  # the tracking store or the model's files are not there
            unavailable = exc.message
        else:
            if served.model.forecast is not None:
                series = sorted(served.model.forecast.history)[:MAX_SERIES]
            else:
                inputs = list(served.inputs.values())
    batches = [
        p
        for p in batch.predictions_of(db, request.user, predictor.id)
        if p.prediction_type != "realtime"
    ]
    return page(
        request,
        "model.html",
        status_code,
        refresh=about["working"]
        or runs.shap_state(platform.gateway, predictor) in WORKING
        or any(p.status in WORKING for p in batches),
        model=about,
        unavailable=unavailable,
        metrics=metrics,
        plots=plots_of(platform, predictor),
        importance=importance.read_feature_importance(platform.catalog, predictor),
        inputs=inputs,
        # a clustering (the workbench's k-means) predicts no column
        target=next(iter(records.columns_in_role(predictor.columns, Attribute.TARGET)), None),
        predictions=batches,
        datasets=[d for d in datasets.list_datasets(db, request.user) if "p" in d.usage],
        series=series,
        **context,
    )


@get("/models/{model_id:int}", guards=READ, sync_to_thread=True, include_in_schema=False)
def model_detail(
    request: Request[Any, Any, Any],
    db: Session,
    platform: Platform,
    model_id: PathId,
    series: Annotated[str | None, Parameter(max_length=255)] = None,
    steps: Steps = 12,
) -> Template:
    """A model: its state and metrics, plots, SHAP importance, a prediction form and its
    batch predictions; for a forecast, the forecast of `series` `steps` ahead."""
    predictor = records.get_predictor(db, request.user, model_id)
    if series is None:
        return model_page(request, db, platform, predictor, values={})
    values = {"series": series, "steps": str(steps)}
    try:
        points = forecast_points(platform, predictor, series, steps)
    except StrataError as exc:  # the model names the series unique_id
        errors = {"series" if exc.field == "unique_id" else exc.field or "": exc.message}
        status = form_status(exc)
        return model_page(request, db, platform, predictor, status, values=values, errors=errors)
    return model_page(request, db, platform, predictor, values=values, forecast=points)


def forecast_points(platform: Platform, predictor: Predictor, series: str, steps: int) -> Any:
    from lakehouse.ml.forecasting import forecast

    return forecast(platform.served(predictor).model, series, steps, None)


@get("/models/{model_id:int}/forecast", guards=READ, sync_to_thread=True, include_in_schema=False)
def forecast_chart(
    request: Request[Any, Any, Any],
    db: Session,
    platform: Platform,
    model_id: PathId,
    series: Annotated[str, Parameter(max_length=255)] = "",
    steps: Steps = 12,
) -> Response[bytes]:
    """A series' latest known values and its forecast with the interval, as a PNG image."""
    predictor = records.get_predictor(db, request.user, model_id)
    points = forecast_points(platform, predictor, series, steps)
    setup = platform.served(predictor).model.forecast
    assert setup is not None  # forecast_points refuses a model that does not forecast
    title = f"{predictor.predictor_name}: {series or setup.target}, {steps} steps ahead"
    figure = forecast_figure(title, setup.history.get(series, []), points)
    return Response(png(figure), media_type="image/png")


@post(
    "/models/{model_id:int}/predict",
    guards=PREDICT,
    status_code=200,
    sync_to_thread=True,
    include_in_schema=False,
)
def predict(
    request: Request[Any, Any, Any],
    db: Session,
    platform: Platform,
    model_id: PathId,
    data: FormData,
) -> Template:
    """Predict the row the form describes (blank fields left for the model to fill in), and
    show the answer with its probabilities on the model's page."""
    predictor = records.get_predictor(db, request.user, model_id)
    if predictor.mlflow_run_id is None:
        raise ConflictError("the model is not trained yet", field="modelId")
    model = platform.served(predictor)
    features = {name: value for name, value in data.items() if name in model.inputs and value != ""}
    try:
        answer = model.predict(features)
    except StrataError as exc:  # the API names a feature in its body: features.<name>
        errors = {(exc.field or "").removeprefix("features."): exc.message}
        status = form_status(exc)
        return model_page(request, db, platform, predictor, status, values=data, errors=errors)
    log_answer(platform, request.user, predictor.id, features, answer, model.version)
    return model_page(request, db, platform, predictor, values=data, answer=answer)


@get(
    "/models/{model_id:int}/plots/{name:str}",
    guards=READ,
    sync_to_thread=True,
    include_in_schema=False,
)
def plot(
    request: Request[Any, Any, Any], db: Session, platform: Platform, model_id: PathId, name: str
) -> Response[bytes]:
    """One of the evaluation plots of the model's MLflow run."""
    from lakehouse.ml import registry

    predictor = records.get_predictor(db, request.user, model_id)
    if name not in PLOTS or predictor.mlflow_run_id is None:
        raise NotFoundError(f"no plot '{name}' for this model", field="name")
    image = registry.run_artifact_bytes(platform.settings, predictor.mlflow_run_id, f"plots/{name}")
    return Response(image, media_type="image/png")


@get("/models/{model_id:int}/importance", guards=READ, sync_to_thread=True, include_in_schema=False)
def importance_chart(
    request: Request[Any, Any, Any], db: Session, platform: Platform, model_id: PathId
) -> Response[bytes]:
    """The model's SHAP importance as a bar chart."""
    from lakehouse.ml.explain import importance_figure

    predictor = records.get_predictor(db, request.user, model_id)
    ranked = importance.read_feature_importance(platform.catalog, predictor)
    if not ranked:
        raise NotFoundError("no SHAP values for this model yet", field="modelId")
    return Response(png(importance_figure(ranked)), media_type="image/png")


@post("/models/{model_id:int}/batch", guards=PREDICT, sync_to_thread=True, include_in_schema=False)
def batch_predict(
    request: Request[Any, Any, Any],
    db: Session,
    platform: Platform,
    model_id: PathId,
    data: FormData,
) -> Response[Any]:
    """Start scoring a dataset's validated rows, then back to the model's page."""
    dataset_id = form_id(data.get("dataset_id"), "dataset_id", "a dataset to score")
    prediction = runs.record_batch_prediction(db, platform, request.user, model_id, dataset_id)
    runs.start_batch_prediction(db, platform, prediction)
    return Redirect(f"{PREFIX}/models/{model_id}", status_code=303)


@get(
    "/models/{model_id:int}/predictions/{prediction_id:int}/csv",
    guards=READ,
    sync_to_thread=True,
    include_in_schema=False,
)
def prediction_csv(
    request: Request[Any, Any, Any],
    db: Session,
    platform: Platform,
    model_id: PathId,
    prediction_id: PathId,
) -> Stream:
    """A completed batch prediction's CSV file."""
    prediction = batch.get_prediction(db, request.user, prediction_id)
    if prediction.predictor_id != model_id or prediction.result_path is None:
        raise NotFoundError("no CSV for this prediction", field="prediction_id")
    name = f"predictions-{prediction.id}.csv"
    return landed_file(platform.landing, prediction.tenant_id, prediction.result_path, name)


ROUTES = [
    model_list,
    new_model,
    train,
    model_detail,
    predict,
    plot,
    importance_chart,
    forecast_chart,
    batch_predict,
    prediction_csv,
]
