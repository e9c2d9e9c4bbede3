"""Models saved without pickle load back the same, and foreign types are refused."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.errors import InvalidInputError
from lakehouse.ml.spec import Algorithm, Attribute, ColumnRole, ProblemType, TrainingSpec
from lakehouse.ml.training import train
from lakehouse.model_files import PIPELINE, load_model, save_model


def wine() -> tuple[pa.Table, list[ColumnRole]]:
    from sklearn.datasets import load_wine

    loaded = load_wine(as_frame=True)
    frame = loaded.frame
    frame["kind"] = [f"cultivar {v}" for v in frame.pop("target")]
    frame["grade"] = np.where(frame["color_intensity"] > 5, "dark", "light")
    roles = [ColumnRole(c, Attribute.FEATURE) for c in [*loaded.feature_names, "grade"]]
    return pa.Table.from_pandas(frame, preserve_index=False), [
        *roles,
        ColumnRole("kind", Attribute.TARGET),
    ]


@pytest.mark.parametrize(
    "algorithm", [a for a in Algorithm if a not in (Algorithm.AUTO, Algorithm.KMEANS)]
)
def test_every_algorithm_round_trips(algorithm: Algorithm, tmp_path: Path) -> None:
    table, roles = wine()
    model = train(table, TrainingSpec(ProblemType.CLASSIFICATION, roles, algorithm))
    save_model(model, tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    frame = table.to_pandas()
    assert list(loaded.predict(frame)) == list(model.predict(frame))
    assert np.allclose(loaded.predict_proba(frame), model.predict_proba(frame))  # type: ignore[arg-type]
    assert (loaded.algorithm, loaded.classes, loaded.metrics) == (
        algorithm,
        model.classes,
        model.metrics,
    )


def test_a_model_learning_from_dates_loads_back_as_trusted(tmp_path: Path) -> None:
    import datetime

    table, roles = wine()
    start = datetime.date(2024, 1, 1)
    dates = [start + datetime.timedelta(days=i % 30) for i in range(table.num_rows)]
    stamps = [datetime.datetime(2024, 1, 1, i % 24) for i in range(table.num_rows)]
    table = table.append_column("bottled", pa.array(dates)).append_column(
        "opened", pa.array(stamps, pa.timestamp("us"))
    )
    roles = [
        *roles,
        ColumnRole("bottled", Attribute.FEATURE),
        ColumnRole("opened", Attribute.FEATURE),
    ]
    model = train(table, TrainingSpec(ProblemType.CLASSIFICATION, roles, Algorithm.RANDOM_FOREST))
    save_model(model, tmp_path / "model")
    loaded = load_model(tmp_path / "model")  # no date objects in the file: nothing untrusted
    frame = table.to_pandas()
    assert list(loaded.predict(frame)) == list(model.predict(frame))
    types = {f.column_name: f.data_type for f in loaded.inputs}
    assert types["bottled"] == types["opened"] == "String"


def test_a_file_naming_other_types_is_refused(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    table, roles = wine()
    model = train(table, TrainingSpec(ProblemType.CLASSIFICATION, roles, Algorithm.LINEAR))
    save_model(model, tmp_path / "model")
    sio.dump(FunctionTransformer(func=os.system), tmp_path / "model" / PIPELINE)
    with pytest.raises(InvalidInputError, match="not trusted: .*system"):
        load_model(tmp_path / "model")
