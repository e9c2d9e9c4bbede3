"""Inference (module 9): real-time, form-based, batch and forecast predictions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
from litestar import Controller, Request, get, post
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED
from sqlalchemy.orm import Session

from api import runs
from api.platform import Platform
from api.schemas.base import QueryId
from api.schemas.models import (
    BatchRequest,
    BatchResult,
    BatchSubmitted,
    ForecastAnswer,
    ForecastPointPublic,
    ForecastRequest,
    FormField,
    InferenceAnswer,
    InferenceRequest,
    PredictionForm,
    PredictionRecord,
    PredictionsPublic,
)
from api.security import requires_permission
from lakehouse.accounts.rbac import Principal
from lakehouse.data import datasets
from lakehouse.errors import InvalidInputError
from lakehouse.ml.forecasting import forecast
from lakehouse.ml.spec import Attribute
from lakehouse.predictors import batch, records
from lakehouse.predictors.serving_state import series_history, servable
from lakehouse.states import WorkState
from lakehouse.store import Predictor

if TYPE_CHECKING:
    from lakehouse.ml.serving import Answer

READ = [requires_permission("models:read")]
PREDICT = [requires_permission("models:predict")]


def target_of(predictor: Predictor) -> str:
    return records.columns_in_role(predictor.columns, Attribute.TARGET)[0]


def log_answer(
    platform: Platform,
    caller: Principal,
    predictor_id: int,
    features: dict[str, Any],
    answer: Answer,
    version: int,
) -> None:
    """Log a real-time answer in the background (the prediction log batches its writes)."""
    platform.prediction_log.record(
        tenant_id=caller.tenant_id,
        predictor_id=predictor_id,
        prediction_type="realtime",
        dataset_id=None,
        input_data=features,
        output={"prediction": answer.prediction, "probabilities": answer.probabilities},
        status=WorkState.COMPLETED,
        no_of_records=1,
        model_version=version,
        created_by=caller.username,
    )


class InferenceController(Controller):
    path = "/api/v1/inference"
    tags = ["Inference"]

    @post("/", operation_id="predict", guards=PREDICT, status_code=HTTP_200_OK)
    async def predict(
        self, request: Request, platform: Platform, data: InferenceRequest
    ) -> InferenceAnswer:
        """Predict one row: features are checked against the model's input schema.

        The hot path stays on the event loop: the predictor's state and model are cached,
        and only a miss goes to a thread.
        """
        tenant_id = request.user.tenant_id
        state = platform.cached_serving_state(tenant_id, data.train_id)
        if state is None:
            state = await anyio.to_thread.run_sync(platform.serving_state, tenant_id, data.train_id)
        if data.target is not None and data.target != state.target:
            raise InvalidInputError(
                f"this model predicts '{state.target}', not '{data.target}'", field="target"
            )
        version = servable(state)
        model = platform.models.cached(state.model_name, version)
        if model is None:
            model = await anyio.to_thread.run_sync(platform.models.get, state.model_name, version)
        answer = model.predict(data.features)
        log_answer(platform, request.user, state.id, data.features, answer, model.version)
        return InferenceAnswer(
            prediction=answer.prediction,
            accuracy=state.accuracy,
            probabilities=answer.probabilities,
            model_version=model.version,
        )

    @get(
        "/form-based-prediction",
        operation_id="prediction_form",
        guards=READ,
        sync_to_thread=True,
    )
    def form(
        self, db: Session, request: Request, platform: Platform, id: QueryId
    ) -> PredictionForm:
        """The fields of the model's input form, with their types and defaults."""
        predictor = records.get_predictor(db, request.user, id)
        model = platform.served(predictor)
        return PredictionForm(
            id=predictor.id,
            headers=[
                FormField(
                    column_name=f.column_name,
                    data_type=f.data_type,
                    default_value=None if f.default_value is None else f"{f.default_value:g}",
                    required=f.required,
                )
                for f in model.inputs.values()
            ],
            target=target_of(predictor),
            preprocess_id=predictor.preprocess_id,
        )

    @post(
        "/forecast",
        operation_id="forecast",
        guards=PREDICT,
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def forecast(
        self, db: Session, request: Request, platform: Platform, data: ForecastRequest
    ) -> ForecastAnswer:
        """The next `steps` values of a series, with a 95% prediction interval."""
        predictor = records.get_predictor(db, request.user, data.train_id)
        model = platform.served(predictor)
        history = None
        if data.dataset_id is not None:
            dataset = datasets.get_dataset(db, request.user, data.dataset_id)
            history = series_history(platform.catalog, dataset, model.model, data.unique_id)
        points = forecast(model.model, data.unique_id, data.steps, data.frequency, history)
        return ForecastAnswer(forecast=[ForecastPointPublic(**vars(p)) for p in points])

    def _batch(
        self, db: Session, request: Request, platform: Platform, data: BatchRequest
    ) -> BatchSubmitted:
        prediction = runs.record_batch_prediction(
            db, platform, request.user, data.train_id, data.dataset_id
        )
        run_id = runs.start_batch_prediction(db, platform, prediction)
        return BatchSubmitted(
            message="Batch prediction job started successfully.",
            status_code=202,
            prediction_id=prediction.id,
            job_id=run_id,
        )

    @post(
        "/batchPrediction",
        operation_id="batch_prediction",
        guards=PREDICT,
        status_code=HTTP_202_ACCEPTED,
        sync_to_thread=True,
    )
    def batch_prediction(
        self, db: Session, request: Request, platform: Platform, data: BatchRequest
    ) -> BatchSubmitted:
        """Start a run scoring a dataset's validated rows with the current model version."""
        return self._batch(db, request, platform, data)

    @post(
        "/batch-prediction",
        operation_id="batch_prediction_alias",
        guards=PREDICT,
        status_code=HTTP_202_ACCEPTED,
        sync_to_thread=True,
    )
    def batch_prediction_alias(
        self, db: Session, request: Request, platform: Platform, data: BatchRequest
    ) -> BatchSubmitted:
        """The same as batchPrediction."""
        return self._batch(db, request, platform, data)

    @get("/result", operation_id="batch_prediction_result", guards=READ, sync_to_thread=True)
    def result(
        self, db: Session, request: Request, platform: Platform, prediction_id: QueryId
    ) -> BatchResult:
        """A batch prediction's state and, once completed, where its CSV is."""
        prediction = batch.get_prediction(db, request.user, prediction_id)
        status, error = runs.prediction_state(platform.gateway, prediction)
        return BatchResult(
            status=status,
            result_path=prediction.result_path,
            file_id=None,
            dataset_id=prediction.dataset_id,
            no_of_records=prediction.no_of_records,
            error=error,
        )

    @get("/predictions", operation_id="list_predictions", guards=READ, sync_to_thread=True)
    def predictions(
        self, db: Session, request: Request, platform: Platform, train_id: QueryId
    ) -> PredictionsPublic:
        """Every real-time and batch prediction of a model."""
        platform.prediction_log.flush()
        predictor = records.get_predictor(db, request.user, train_id)
        return PredictionsPublic(
            data=[
                PredictionRecord(
                    prediction_id=p.id,
                    train_id=predictor.id,
                    date=p.created_at,
                    dataset_id=p.dataset_id,
                    predictor_name=predictor.predictor_name,
                    prediction_type=p.prediction_type,
                    input_data=p.input_data,
                    output=p.output,
                    status=p.status,
                    no_of_records=p.no_of_records,
                    accuracy=predictor.accuracy,
                    problem_type=predictor.problem_type,
                    domain_name=predictor.domain,
                    model_version=p.model_version,
                )
                for p in batch.predictions_of(db, request.user, train_id)
            ]
        )
