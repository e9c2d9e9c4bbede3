"""Training (module 8 and model-summary): predictors trained, explained and summarised."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.orm import Session

from api import runs
from api.platform import Platform
from api.schemas.base import PathId, QueryId, StatusMessage
from api.schemas.models import (
    CallbackReceived,
    DetailsRequest,
    FeatureImportance,
    ModelSummary,
    ModelSummaryPublic,
    ModelUpdate,
    ModelUpdated,
    SchemaColumnPublic,
    ShapResultCallback,
    ShapSubmitted,
    TrainingCreated,
    TrainingDetails,
    TrainingRequest,
    TrainingResultCallback,
    TrainingsPublic,
    TrainingSummary,
)
from api.security import PUBLIC, WRITES, requires_permission, requires_service_token
from lakehouse.data import datasets
from lakehouse.errors import ConflictError, InvalidInputError, NotFoundError
from lakehouse.ml.spec import Attribute, ProblemType
from lakehouse.predictors import importance, records, steps
from lakehouse.predictors.serving_state import servable
from lakehouse.states import WorkState
from lakehouse.store import Predictor

READ = [requires_permission("models:read")]
TRAIN = [requires_permission("models:train")]
SERVICE = [requires_service_token]


def summary(platform: Platform, predictor: Predictor) -> TrainingSummary:
    status, error = runs.training_state(platform.gateway, predictor)
    dataset = predictor.dataset
    return TrainingSummary(
        tenant_id=predictor.tenant_id,
        predictor_name=predictor.predictor_name,
        preprocess_id=predictor.preprocess_id,
        problem_type=predictor.problem_type,
        domain=predictor.domain,
        created_by=predictor.created_by,
        id=predictor.id,
        dataset_id=predictor.dataset_id,
        dataset_name=dataset.dataset_name if dataset else None,
        data_source=dataset.data_source if dataset else None,
        created_at=predictor.created_at,
        modified_at=predictor.modified_at,
        algorithm=predictor.trained_algorithm or predictor.algorithm,
        trained_algorithm=predictor.trained_algorithm,
        accuracy=predictor.accuracy,
        rows_used=predictor.rows_used,
        rows_rejected=predictor.rows_rejected,
        ml_model_status=status,
        train_status=status,
        training_status=status,
        training_error=error,
        model_version=predictor.model_version,
        mlflow_run_id=predictor.mlflow_run_id,
        last_run_id=predictor.last_run_id,
        shap_status=predictor.shap_status,
    )


def _count(param: str | None) -> int | None:
    """A row count MLflow kept as a parameter (text); runs before it was logged have none."""
    return int(param) if param is not None and param.isdigit() else None


class TrainController(Controller):
    path = "/api/v1/train"
    tags = ["Train"]

    @post("/get_details", operation_id="training_details", guards=READ, sync_to_thread=True)
    def get_details(
        self, db: Session, request: Request, platform: Platform, data: DetailsRequest
    ) -> TrainingDetails:
        """The dataset's columns and the roles a column can take in a training."""
        ProblemType.parse(data.problem_type)
        dataset = datasets.get_dataset(db, request.user, data.dataset_id)
        columns = records.dataset_schema(platform.catalog, dataset)
        return TrainingDetails(
            dataset_id=dataset.id,
            predictor_name=data.predictor_name,
            domain=data.domain,
            problem_type=data.problem_type,
            dataset_schema=[SchemaColumnPublic(**vars(c)) for c in columns],
            attributes=[a.value for a in Attribute],
        )

    @post(
        "/",
        operation_id="create_training",
        guards=TRAIN,
        status_code=HTTP_201_CREATED,
        sync_to_thread=True,
    )
    def create(
        self, db: Session, request: Request, platform: Platform, data: TrainingRequest
    ) -> TrainingCreated:
        """Create a predictor (or, with is_incremental, its next version) and start training."""
        predictor = records.create_predictor(
            db,
            request.user,
            platform.catalog,
            records.NewPredictor(
                dataset_id=data.dataset_id,
                predictor_name=data.predictor_name,
                domain=data.domain,
                problem_type=data.problem_type,
                columns=[c.model_dump() for c in data.columns],
                is_incremental=data.is_incremental,
                algorithm=data.algorithm,
                shap_enabled=data.shap_enabled,
                hyperparameters=data.hyperparameters,
            ),
        )
        runs.start_training(db, platform, predictor)
        return TrainingCreated.model_validate(predictor, from_attributes=True)

    @get("/list", operation_id="list_trainings", guards=READ, sync_to_thread=True)
    def list_trainings(self, db: Session, request: Request, platform: Platform) -> TrainingsPublic:
        """Your tenant's trainings with their state and headline metric."""
        data = [summary(platform, p) for p in records.list_predictors(db, request.user)]
        return TrainingsPublic(total=len(data), data=data)

    @get(
        "/refresh",
        operation_id="refresh_trainings",
        guards=READ,
        sync_to_thread=True,
        opt={WRITES: True},
    )
    def refresh(self, db: Session, request: Request, platform: Platform) -> TrainingsPublic:
        """The trainings with their state read again from their runs; a run that ended
        without a model is recorded as failed."""
        data = []
        for predictor in records.list_predictors(db, request.user):
            status, error = runs.training_state(platform.gateway, predictor)
            if status != predictor.training_status:
                predictor.training_status, predictor.training_error = status, error
            data.append(summary(platform, predictor))
        db.commit()
        return TrainingsPublic(total=len(data), data=data)

    @delete(
        "/delete/{id:int}",
        operation_id="delete_training",
        guards=TRAIN,
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def delete_training(
        self, db: Session, request: Request, platform: Platform, id: PathId
    ) -> StatusMessage:
        """Delete a predictor: its model versions in MLflow and its gold tables."""
        runs.remove_predictor(db, platform, request.user, id, runs.Removed())
        return StatusMessage(status_code=200, message="Training job deleted successfully")

    @post(
        "/update/",
        operation_id="update_model",
        guards=TRAIN,
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def update(self, db: Session, request: Request, data: ModelUpdate) -> ModelUpdated:
        """Attach a preprocessing id to a trained model."""
        predictor = records.get_predictor(db, request.user, data.train_id)
        predictor.preprocess_id = data.preprocess_id
        return ModelUpdated(data="Model updated successfully", status_code=200, message="Success")

    @get(
        "/download-schema/{train_id:int}",
        operation_id="download_training_schema",
        guards=READ,
        sync_to_thread=True,
    )
    def download_schema(
        self, db: Session, request: Request, train_id: PathId
    ) -> dict[str, list[dict[str, str]]]:
        """The columns a training used, with their types and roles."""
        predictor = records.get_predictor(db, request.user, train_id)
        return {
            "schema": [
                dict(c) for c in predictor.columns if c["attribute_name"] != Attribute.IGNORE
            ]
        }

    @get("/model-summary", operation_id="model_summary", guards=READ, sync_to_thread=True)
    def model_summary(
        self, db: Session, request: Request, platform: Platform, train_id: QueryId
    ) -> ModelSummary:
        """The model and its test metrics, as MLflow recorded the training run."""
        from lakehouse.ml import registry

        predictor = records.get_predictor(db, request.user, train_id)
        if predictor.mlflow_run_id is None:
            status, _ = runs.training_state(platform.gateway, predictor)
            raise ConflictError(
                f"training {train_id} has no model yet ({status})", field="train_id"
            )
        run = registry.training_run(platform.settings, predictor.mlflow_run_id)
        confusion = None
        if ProblemType(predictor.problem_type) is ProblemType.CLASSIFICATION:
            with tempfile.TemporaryDirectory(prefix="strata-summary-") as scratch:
                path = registry.run_artifact(
                    platform.settings,
                    predictor.mlflow_run_id,
                    "confusion_matrix.json",
                    Path(scratch),
                )
                confusion = json.loads(path.read_text(encoding="utf-8"))["confusion_matrix"]
        metrics = run.metrics
        return ModelSummary(
            model_summary=ModelSummaryPublic(
                model=run.params.get("model_class", predictor.trained_algorithm or ""),
                algorithm=run.params.get("trained_algorithm"),
                model_version=predictor.model_version,
                accuracy=metrics.get("accuracy"),
                precision=metrics.get("precision"),
                recall=metrics.get("recall"),
                f1_score=metrics.get("f1"),
                rows_used=_count(run.params.get("rows_used")),
                rows_rejected=_count(run.params.get("rows_rejected")),
                metrics=metrics,
            ),
            confusion_matrix=confusion,
        )

    @get(
        "/generate-feature-importance",
        operation_id="generate_feature_importance",
        guards=TRAIN,
        sync_to_thread=True,
    )
    def generate_feature_importance(
        self, db: Session, request: Request, platform: Platform, train_id: QueryId
    ) -> ShapSubmitted:
        """Start a run computing SHAP values of the current model version."""
        predictor = records.get_predictor(db, request.user, train_id)
        records.refuse_forecast(predictor, "feature importance")
        if predictor.problem_type == ProblemType.CLUSTERING.value:
            raise InvalidInputError(
                f"predictor {train_id} groups rows into clusters: SHAP values explain a "
                "classification or a regression",
                field="train_id",
            )
        servable(predictor)
        run_id = runs.start_shap(platform, predictor)
        return ShapSubmitted(
            status="success",
            message="Feature importance job submitted successfully.",
            shap_job_id=run_id,
        )

    @get(
        "/view-feature-importance",
        operation_id="view_feature_importance",
        guards=READ,
        sync_to_thread=True,
    )
    def view_feature_importance(
        self, db: Session, request: Request, platform: Platform, train_id: QueryId
    ) -> FeatureImportance:
        """Mean |SHAP| per feature, largest first, and the state of its run."""
        predictor = records.get_predictor(db, request.user, train_id)
        ranked = importance.read_feature_importance(platform.catalog, predictor)
        return FeatureImportance(
            feature_importance=ranked, status=runs.shap_state(platform.gateway, predictor)
        )

    @delete(
        "/delete-feature-importance/{train_id:int}",
        operation_id="delete_feature_importance",
        guards=TRAIN,
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def delete_feature_importance(
        self, db: Session, request: Request, platform: Platform, train_id: PathId
    ) -> StatusMessage:
        """Delete a training's feature importance results."""
        predictor = records.get_predictor(db, request.user, train_id)
        runs.ensure_idle(
            platform.gateway, predictor.shap_run_id, f"training {train_id}", "train_id"
        )
        if not importance.delete_feature_importance(platform.catalog, predictor):
            raise NotFoundError(
                f"training {train_id} has no feature importance results", field="train_id"
            )
        predictor.shap_status, predictor.shap_error = None, None
        return StatusMessage(
            status_code=200, message="Feature importance results deleted successfully"
        )

    @post(
        "/result",
        operation_id="training_result_callback",
        guards=SERVICE,
        opt=PUBLIC,
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def result(
        self, db: Session, platform: Platform, data: TrainingResultCallback
    ) -> CallbackReceived:
        """A compute engine reports a training's outcome (service token required)."""
        if data.train_id is None:
            raise InvalidInputError("give the train_id the result belongs to", field="train_id")
        predictor = db.get(Predictor, data.train_id)
        if predictor is None:
            raise NotFoundError(f"training {data.train_id} not found", field="train_id")
        outcome = data.result
        if outcome.error:
            predictor.training_status, predictor.training_error = (
                WorkState.FAILED,
                outcome.error[:4000],
            )
        else:
            metrics: dict[str, Any] = {k: v for k, v in outcome.metrics.items() if v is not None}
            predictor.training_status, predictor.training_error = WorkState.COMPLETED, None
            predictor.accuracy = steps.headline_metric(predictor.problem_type, metrics)
        return CallbackReceived(status="success", message="Result received")

    @post(
        "/shap-result",
        operation_id="shap_result_callback",
        guards=SERVICE,
        opt=PUBLIC,
        status_code=HTTP_200_OK,
        sync_to_thread=True,
    )
    def shap_result(
        self, db: Session, platform: Platform, data: ShapResultCallback
    ) -> CallbackReceived:
        """A compute engine posts SHAP results (service token required)."""
        predictor = db.get(Predictor, data.training_id)
        if predictor is None:
            raise NotFoundError(f"training {data.training_id} not found", field="training_id")
        importance.store_feature_importance(platform.catalog, predictor, data.result)
        predictor.shap_status, predictor.shap_error = WorkState.COMPLETED, None
        return CallbackReceived(status="success", message="SHAP result received")
