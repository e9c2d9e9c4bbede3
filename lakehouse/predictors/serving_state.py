"""What real-time requests read of a predictor: its servable version, its columns, and a forecast's
series history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.errors import ConflictError, InvalidInputError, NotFoundError
from lakehouse.lake.naming import PredictorTables
from lakehouse.ml.spec import Attribute, TrainedModel
from lakehouse.states import WorkState
from lakehouse.store.models import Dataset, Predictor

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

from lakehouse.predictors.records import columns_in_role, validated_table


class Servable(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def training_status(self) -> str: ...

    @property
    def model_version(self) -> int | None: ...


@dataclass(frozen=True)
class ServingState:
    """What the real-time path needs of a predictor, read in one small query."""

    id: int
    tenant_id: str
    table_name: str
    training_status: str
    model_version: int | None
    accuracy: float | None
    columns: list[dict[str, str]]

    @property
    def model_name(self) -> str:
        return PredictorTables(self.tenant_id, self.table_name).model_name

    @property
    def target(self) -> str:
        return columns_in_role(self.columns, Attribute.TARGET)[0]


def serving_state(session: Session, tenant_id: str, predictor_id: int) -> ServingState:
    """A predictor of the tenant as the real-time path sees it; any other is not found."""
    row = session.execute(
        select(
            Predictor.table_name,
            Predictor.training_status,
            Predictor.model_version,
            Predictor.accuracy,
            Predictor.columns,
        ).where(Predictor.id == predictor_id, Predictor.tenant_id == tenant_id)
    ).first()
    if row is None:
        raise NotFoundError(f"training {predictor_id} not found", field="train_id")
    return ServingState(predictor_id, tenant_id, *row)


def servable(predictor: Servable) -> int:
    """The version real-time and batch requests use; a predictor without one is a conflict."""
    if (
        predictor.training_status in (WorkState.SUBMITTED, WorkState.RUNNING)
        and predictor.model_version is None
    ):
        raise ConflictError(
            f"predictor {predictor.id} is still training ({predictor.training_status})",
            field="train_id",
        )
    if predictor.model_version is None:
        raise ConflictError(
            f"predictor {predictor.id} has no trained model ({predictor.training_status})",
            field="train_id",
        )
    return predictor.model_version


def series_history(
    catalog: Catalog, dataset: Dataset, model: TrainedModel, unique_id: str | None
) -> list[tuple[str, float]]:
    """The latest values of one series in a dataset's validated rows, oldest first."""
    import pandas as pd
    import pyarrow.compute as pc

    setup = model.forecast
    if setup is None:
        raise InvalidInputError("this predictor does not forecast", field="train_id")
    table = validated_table(catalog, dataset)
    columns = [c for c in (setup.target, setup.timestamp, setup.series) if c]
    present = {f.name for f in table.schema().fields}
    missing = [c for c in columns if c not in present]
    if missing:
        raise InvalidInputError(
            f"dataset {dataset.id} lacks the column '{missing[0]}' the model reads",
            field="dataset_id",
        )
    from lakehouse.ml.forecasting import moments

    rows = table.scan(selected_fields=tuple(columns)).to_arrow()
    if setup.series is not None:
        rows = rows.filter(pc.equal(pc.cast(rows[setup.series], "string"), unique_id or ""))
    at = rows.column_names.index(setup.timestamp)
    rows = rows.set_column(at, setup.timestamp, moments(rows[setup.timestamp], setup.timestamp))
    frame = rows.to_pandas().dropna(subset=[setup.target, setup.timestamp])
    frame = frame.sort_values(setup.timestamp).tail(setup.lags)
    try:
        return [
            (pd.Timestamp(moment).isoformat(), float(value))
            for moment, value in zip(frame[setup.timestamp], frame[setup.target], strict=True)
        ]
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"dataset {dataset.id} does not hold dates in '{setup.timestamp}' and numbers in "
            f"'{setup.target}' as the model was trained on",
            field="dataset_id",
        ) from exc
