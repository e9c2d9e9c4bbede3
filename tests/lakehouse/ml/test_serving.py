"""The real-time path answers what the fitted pipeline answers, checks what it is sent, and
finds what it reads from the store read ahead."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lakehouse.errors import InvalidInputError, NotFoundError
from lakehouse.ml.serving import FreshCache, ServingModel
from lakehouse.ml.spec import Algorithm, Attribute, ColumnRole, ProblemType, TrainingSpec
from lakehouse.ml.training import split_rows, train
from lakehouse.model_files import load_model, save_model


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
@pytest.mark.parametrize(
    "algorithm", [a for a in Algorithm if a not in (Algorithm.AUTO, Algorithm.KMEANS)]
)
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


class Reads:
    """A read counting its calls; each waits while `release` is clear."""

    def __init__(self) -> None:
        self.calls = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self._lock = threading.Lock()

    def __call__(self, key: str) -> str:
        with self._lock:
            self.calls += 1
            call = self.calls
        self.started.set()
        assert self.release.wait(30)
        return f"{key}-{call}"


def eventually(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_key_asked_for_at_once_is_read_once() -> None:
    reads = Reads()
    reads.release.clear()
    cache: FreshCache[str, str] = FreshCache(reads, max_age=60)
    with ThreadPoolExecutor(8) as pool:
        answers = [pool.submit(cache.get, "churn") for _ in range(8)]
        assert reads.started.wait(30)
        assert cache.peek("churn") is None  # nothing to serve yet: callers wait for the read
        reads.release.set()
        assert [a.result() for a in answers] == ["churn-1"] * 8
    assert reads.calls == 1
    cache.close()


def test_an_old_value_is_served_while_one_background_read_replaces_it() -> None:
    reads = Reads()
    cache: FreshCache[str, str] = FreshCache(reads, max_age=4)
    assert cache.get("churn") == "churn-1"
    time.sleep(2.2)  # past half its age
    reads.release.clear()
    assert cache.peek("churn") == "churn-1"  # at once, though the store is slow now
    assert reads.started.wait(30)
    assert [cache.peek("churn") for _ in range(100)] == ["churn-1"] * 100
    assert reads.calls == 2  # one read under way, not one per request
    reads.release.set()
    eventually(lambda: cache.peek("churn") == "churn-2")
    assert reads.calls == 2
    cache.close()


def test_a_value_past_its_age_is_not_served() -> None:
    reads = Reads()
    cache: FreshCache[str, str] = FreshCache(reads, max_age=0.2)
    assert cache.get("churn") == "churn-1"
    time.sleep(0.3)
    assert cache.peek("churn") is None
    assert cache.get("churn") == "churn-2"
    cache.close()


def test_what_was_read_before_forget_is_neither_kept_nor_served_after() -> None:
    reads = Reads()
    reads.release.clear()
    cache: FreshCache[str, str] = FreshCache(reads, max_age=60)
    with ThreadPoolExecutor(1) as pool:
        before = pool.submit(cache.get, "churn")
        assert reads.started.wait(30)
        cache.forget("churn")  # e.g. a new model version registered meanwhile
        reads.release.set()
        assert before.result() == "churn-1"  # asked before the change
    assert cache.peek("churn") is None
    assert cache.get("churn") == "churn-2"
    cache.clear()
    assert cache.peek("churn") is None
    cache.close()


def test_a_failed_read_reaches_its_callers_and_ends_the_old_value() -> None:
    deleted = threading.Event()

    def read(key: str) -> str:
        if deleted.is_set():
            raise NotFoundError(f"training {key} not found", field="train_id")
        return key

    cache: FreshCache[str, str] = FreshCache(read, max_age=4)
    assert cache.get("7") == "7"
    deleted.set()
    time.sleep(2.2)
    assert cache.peek("7") == "7"  # the background read finds it gone...
    eventually(lambda: cache.peek("7") is None)  # ...and it is no longer served
    with pytest.raises(NotFoundError, match="training 7 not found"):
        cache.get("7")
    cache.close()
