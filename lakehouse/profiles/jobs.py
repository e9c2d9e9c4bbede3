"""The jobs profile's domain: a CSV, a label column and a model name make a training job;
two CSVs with the same columns merge into one; a scored file pages as labelled rows."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.accounts.rbac import Principal
from lakehouse.data.formats import read_table, write_csv
from lakehouse.errors import InvalidInputError, NotFoundError
from lakehouse.lake.lineage import LINEAGE
from lakehouse.ml.spec import Algorithm, Attribute
from lakehouse.store import Predictor, TrainingJob
from lakehouse.store.owned import get_owned

if TYPE_CHECKING:
    import pyarrow as pa

MODELS = {
    "xgb": Algorithm.XGBOOST,
    "lgbm": Algorithm.LIGHTGBM,
    "rf": Algorithm.RANDOM_FOREST,
    "logreg": Algorithm.LINEAR,
}
SATELLITE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
MERGE_FOLDER = "mergefiles"


def algorithm_of(model: str) -> Algorithm:
    try:
        return MODELS[model.strip().lower()]
    except KeyError:
        raise InvalidInputError(
            f"unknown model '{model}'; expected one of {', '.join(MODELS)}", field="model"
        ) from None


def checked_satellite(satellite: str) -> str:
    if not SATELLITE.fullmatch(satellite):
        raise InvalidInputError(
            "satellite must be 1-32 letters, digits, '-' or '_', starting with a letter or digit",
            field="satellite",
        )
    return satellite


def column_roles(table: pa.Table, label: str, id_columns: Sequence[str]) -> list[dict[str, str]]:
    """Roles of a validated table's columns for a classifier of `label`: the label is the
    target; identifiers (named, else text or whole-number columns whose values are all
    distinct) are kept as row keys; empty columns are ignored; the rest are features."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = [name for name in table.column_names if not name.startswith("_")]
    if label not in names:
        raise InvalidInputError(
            f"label column '{label}' is not in the file; its columns are {', '.join(names)}",
            field="label",
        )
    unknown = [name for name in id_columns if name not in names]
    if unknown:
        raise InvalidInputError(f"id column '{unknown[0]}' is not in the file", field="id_columns")

    def role(name: str) -> str:
        column = table.column(name)
        present = len(column) - column.null_count
        if name == label:
            return Attribute.TARGET
        if present == 0:
            return Attribute.IGNORE
        if id_columns:
            return Attribute.ID if name in id_columns else Attribute.FEATURE
        kind = column.type
        if (
            pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)
        ) and (pc.count_distinct(column).as_py() == present):
            return Attribute.ID
        return Attribute.FEATURE

    roles = [{"column_name": name, "attribute_name": role(name)} for name in names]
    if not any(r["attribute_name"] == Attribute.FEATURE for r in roles):
        raise InvalidInputError(
            "the file has no feature columns besides the label and identifiers", field="file"
        )
    return roles


def new_job_id() -> str:
    return str(uuid.uuid4())


def new_job(
    session: Session,
    actor: Principal,
    job_id: str,
    predictor: Predictor,
    data_path: str,
    satellite: str,
    model: str,
    label: str,
) -> TrainingJob:
    job = TrainingJob(
        id=job_id,
        tenant_id=actor.tenant_id,
        predictor_id=predictor.id,
        data_path=data_path,
        satellite=satellite,
        model=model,
        label=label,
        created_by=actor.username,
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, actor: Principal, job_id: str) -> TrainingJob:
    """A training job of the caller's tenant; any other is not found."""
    return get_owned(session, TrainingJob, job_id, actor.tenant_id, "training job", "job_id")


def latest_job(
    session: Session, actor: Principal, model: str, satellite: str | None
) -> TrainingJob:
    """The newest job of that model (and satellite) whose model is trained."""
    query = (
        select(TrainingJob)
        .join(Predictor, Predictor.id == TrainingJob.predictor_id)
        .where(
            TrainingJob.tenant_id == actor.tenant_id,
            TrainingJob.model == model.strip().lower(),
            Predictor.model_version.is_not(None),
        )
        .order_by(TrainingJob.created_at.desc())
    )
    if satellite:
        query = query.where(TrainingJob.satellite == satellite)
    job = session.scalars(query).first()
    if job is None:
        raise NotFoundError(
            f"no trained {model} model" + (f" for {satellite}" if satellite else ""),
            field="model",
        )
    return job


def merge_files(
    first: tuple[Path, str],
    second: tuple[Path, str],
    target: Path,
    max_columns: int | None = None,
) -> int:
    """Write the rows of two files with the same columns, one after the other, as one CSV at
    `target`; InvalidInputError names the columns that differ, or a file over `max_columns`."""
    import pyarrow as pa

    left = read_table(*first, max_columns=max_columns)
    right = read_table(*second, max_columns=max_columns)
    if set(left.column_names) != set(right.column_names):
        only_left = [c for c in left.column_names if c not in right.column_names]
        only_right = [c for c in right.column_names if c not in left.column_names]
        problems = []
        if only_left:
            problems.append(f"only in {first[1]}: {', '.join(only_left)}")
        if only_right:
            problems.append(f"only in {second[1]}: {', '.join(only_right)}")
        raise InvalidInputError(
            f"the files have different columns ({'; '.join(problems)})", field="files"
        )
    merged = pa.concat_tables([left, right.select(left.column_names)])
    write_csv(merged, target)
    return merged.num_rows


def merged_name(first: str, second: str) -> str:
    stamp = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    return f"merged__{Path(first).stem}__{Path(second).stem}__{stamp}.csv"


def labelled_rows(
    scored: pa.Table,
    validated: pa.Table,
    ids: Sequence[str],
    label: str | None,
) -> list[dict[str, Any]]:
    """Scored rows in file order as the jobs profile shows them: row number, identifiers,
    actual and predicted class, confidence, whether they match, and each class's probability."""
    import pyarrow.compute as pc

    keys = list(LINEAGE)
    actual = [label] if label is not None and label not in scored.column_names else []
    joined = scored.join(validated.select([*keys, *actual]), keys=keys, join_type="left outer")
    order = pc.sort_indices(joined, sort_keys=[(k, "ascending") for k in keys])
    joined = joined.take(order)
    rows = []
    classes = [
        name.removeprefix("probability_")
        for name in scored.column_names
        if name.startswith("probability_")
    ]
    for number, row in enumerate(joined.to_pylist()):
        probabilities = {f"Prob_{c}": row.get(f"probability_{c}") for c in classes}
        entry: dict[str, Any] = {"Row_Number": number}
        entry.update({c: row.get(c) for c in ids})
        predicted = row["prediction"]
        if label is not None:
            entry["Actual_Class"] = row.get(label)
        entry["Predicted_Class"] = predicted
        entry["Confidence"] = max(
            (v for v in probabilities.values() if v is not None), default=None
        )
        if label is not None:
            entry["Match"] = "Yes" if str(row.get(label)) == str(predicted) else "No"
        entry.update(probabilities)
        rows.append(entry)
    return rows
