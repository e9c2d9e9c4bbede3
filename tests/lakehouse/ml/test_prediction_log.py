"""The real-time prediction log records every prediction in a few statements, also when the
store refuses writes for a while."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import event, func, select, text

from lakehouse.ml.prediction_log import PredictionLog
from lakehouse.store import MetadataStore, Tenant
from lakehouse.store.models import Prediction, Predictor


def store_with_predictor(database_url: str) -> tuple[MetadataStore, str, int]:
    store = MetadataStore(database_url)
    store.migrate()
    with store.session() as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.flush()
        predictor = Predictor(
            tenant_id=tenant.id,
            predictor_name="churn",
            table_name="churn",
            domain="Telco",
            problem_type="Classification",
            columns=[],
            algorithm="XGBoost",
            created_by="ana",
        )
        session.add(predictor)
        session.flush()
        return store, tenant.id, predictor.id


def record(log: PredictionLog, tenant_id: str, predictor_id: int, n: int, yes: float) -> None:
    log.record(
        tenant_id=tenant_id,
        predictor_id=predictor_id,
        prediction_type="realtime",
        dataset_id=None,
        input_data={"tenure": n, "plan": "basic"},
        output={"prediction": "yes", "probabilities": {"no": 1 - yes, "yes": yes}},
        status="completed",
        no_of_records=1,
        model_version=2,
        created_by="ana",
    )


def logged(store: MetadataStore) -> list[Prediction]:
    with store.session(writes=False) as session:
        rows = session.scalars(select(Prediction).order_by(Prediction.id)).all()
        session.expunge_all()
        return list(rows)


def test_every_prediction_is_recorded_in_a_few_statements(database_url: str) -> None:
    store, tenant_id, predictor_id = store_with_predictor(database_url)
    inserts: list[str] = []

    def count_inserts(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO PREDICTIONS"):
            inserts.append(statement)

    event.listen(store.engine, "before_cursor_execute", count_inserts)
    log = PredictionLog(store)
    try:
        for n in range(2500):
            record(log, tenant_id, predictor_id, n, math.nan if n == 7 else 0.25)
        assert log.flush(timeout=60)
    finally:
        log.close()
    rows = logged(store)
    assert [r.input_data["tenure"] for r in rows] == list(range(2500))
    assert {r.predictor_id for r in rows} == {predictor_id}
    assert rows[0].output == {"prediction": "yes", "probabilities": {"no": 0.75, "yes": 0.25}}
    assert rows[7].output["probabilities"] == {"no": None, "yes": None}  # NaN is not JSON
    assert len(inserts) <= 10  # gathered over the flush window, at most 1,000 rows a statement
    store.dispose()


def test_predictions_wait_while_the_store_refuses_them_and_none_is_lost(tmp_path: Any) -> None:
    store, tenant_id, predictor_id = store_with_predictor(f"sqlite:///{tmp_path / 'strata.db'}")
    log = PredictionLog(store)
    try:
        record(log, tenant_id, predictor_id, 0, 0.5)
        assert log.flush()
        # Every insert now fails with an OperationalError, as when another writer holds
        # SQLite's lock past the busy timeout.
        with store.engine.begin() as connection:
            connection.execute(text("ALTER TABLE predictions RENAME TO predictions_away"))
        for n in range(1, 301):
            record(log, tenant_id, predictor_id, n, 0.5)
        assert not log.flush(timeout=1.5)
        with store.engine.begin() as connection:
            connection.execute(text("ALTER TABLE predictions_away RENAME TO predictions"))
        assert log.flush(timeout=30)
        for n in range(301, 311):
            record(log, tenant_id, predictor_id, n, 0.5)
    finally:
        log.close()  # writes what is still queued
    with store.session(writes=False) as session:
        assert session.scalar(select(func.count(Prediction.id))) == 311
    assert [r.input_data["tenure"] for r in logged(store)] == list(range(311))
    store.dispose()
