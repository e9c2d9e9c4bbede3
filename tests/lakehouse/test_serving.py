"""The real-time path answers what the fitted pipeline answers, and checks what it is sent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lakehouse.errors import InvalidInputError
from lakehouse.model_files import load_model, save_model
from lakehouse.serving import ServingModel
from lakehouse.training import (
    Algorithm,
    Attribute,
    ColumnRole,
    ProblemType,
    TrainingSpec,
    split_rows,
    train,
)


def table(problem: ProblemType) -> tuple[pd.DataFrame, TrainingSpec]:
    """Wine with a categorical, a boolean and a gappy feature added."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame["grade"] = np.where(frame["color_intensity"] > 5, "dark", "light")
    frame["organic"] = frame["hue"] > 1
    frame.loc[::6, "alcohol"] = None
    target = "target" if problem is ProblemType.CLASSIFICATION else "proline"
    if problem is ProblemType.CLASSIFICATION:
        frame["target"] = [f"cultivar {v}" for v in frame["target"]]
    else:
        frame = frame.drop(columns="target")
    roles = [ColumnRole(c, Attribute.FEATURE) for c in frame.columns if c != target]
    return frame, TrainingSpec(problem, [*roles, ColumnRole(target, Attribute.TARGET)])


@pytest.mark.parametrize("problem", [ProblemType.CLASSIFICATION, ProblemType.REGRESSION])
@pytest.mark.parametrize("algorithm", [a for a in Algorithm if a is not Algorithm.AUTO])
def test_one_row_answers_match_the_pipeline(
    problem: ProblemType, algorithm: Algorithm, tmp_path: Path
) -> None:
    frame, spec = table(problem)
    spec = TrainingSpec(spec.problem_type, spec.roles, algorithm)
    trained = train(pa.Table.from_pandas(frame, preserve_index=False), spec)
    save_model(trained, tmp_path)
    serving = ServingModel(load_model(tmp_path), version=3)
    features = frame[trained.features]
    for index in (0, 1, 6, 100):  # rows 0 and 6 lack alcohol
        row = features.iloc[[index]]
        sent = {k: (None if pd.isna(v) else v) for k, v in row.iloc[0].to_dict().items()}
        answer = serving.predict(sent)
        if problem is ProblemType.CLASSIFICATION:
            expected = trained.pipeline.predict_proba(row)[0]
            assert trained.classes is not None
            got = [answer.probabilities[str(c)] for c in trained.classes]  # type: ignore[index]
            assert np.allclose(got, expected, atol=1e-6)
            assert answer.prediction == trained.predict(row)[0]
        else:
            assert answer.probabilities is None
            assert answer.prediction == pytest.approx(float(trained.pipeline.predict(row)[0]))


def test_requests_are_checked_and_named(tmp_path: Path) -> None:
    frame, spec = table(ProblemType.CLASSIFICATION)
    trained = train(pa.Table.from_pandas(frame, preserve_index=False), spec)
    serving = ServingModel(trained, version=1)
    row = frame[trained.features].iloc[1].to_dict()
    split = split_rows(len(frame), spec.seed)
    learned = frame.iloc[np.concatenate([split.train, split.validation])]
    assert serving.inputs["alcohol"].required is False
    assert serving.inputs["alcohol"].default_value == pytest.approx(learned["alcohol"].median())
    without_optional = serving.predict({k: v for k, v in row.items() if k != "alcohol"})
    assert without_optional.prediction in trained.classes  # type: ignore[operator]
    spelled = serving.predict({**row, "organic": "TRUE" if row["organic"] else "no"})
    assert spelled == serving.predict(row)
    for sent, field, message in [
        ({**row, "hue": "pale"}, "features.hue", "expects a number"),
        ({**row, "hue": True}, "features.hue", "expects a number"),
        ({**row, "organic": "maybe"}, "features.organic", "true or false"),
        ({**row, "grade": ["dark"]}, "features.grade", "single value"),
        ({**row, "vintage": 1999}, "features.vintage", "not a column of the data"),
        ({k: v for k, v in row.items() if k != "hue"}, "features.hue", "is required"),
    ]:
        with pytest.raises(InvalidInputError, match=message) as raised:
            serving.predict(sent)
        assert raised.value.field == field
