"""The self-check asset materialized through Dagster's own API, as the UI would."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow.compute as pc
import pytest

from assets.platform import selfcheck
from lakehouse.lake.catalog import open_catalog
from lakehouse.runs import SELFCHECK_OP, selfcheck_run_config
from lakehouse.settings import Settings
from pipelines.definitions import defs
from pipelines.instance import open_instance
from resources import LakehouseResource


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("STRATA_DATA_DIR", str(tmp_path / "data"))
    return Settings()


def test_materialize_selfcheck(settings: Settings) -> None:
    with open_instance(settings) as instance:
        result = dg.materialize(
            [selfcheck],
            instance=instance,
            resources={"lakehouse": LakehouseResource()},
            run_config=selfcheck_run_config(rows=12),
        )
        assert result.success
        [materialization] = result.asset_materializations_for_node(SELFCHECK_OP)
        assert materialization.metadata["row_count"].value == 12

        table = open_catalog(settings).load_table("platform.selfcheck")
        rows = table.scan().to_arrow()
        assert rows.filter(pc.equal(rows["check_id"], result.run_id)).num_rows == 12
        snapshot = table.current_snapshot()
        assert snapshot is not None
        assert materialization.metadata["snapshot_id"].value == str(snapshot.snapshot_id)
        assert (
            instance.get_latest_materialization_event(dg.AssetKey(["platform", "selfcheck"]))
            is not None
        )


def test_definitions_load_with_the_selfcheck_job() -> None:
    job = defs.resolve_job_def("platform_selfcheck_job")
    assert [n.name for n in job.nodes] == ["platform__selfcheck"]
    assert job.executor_def.name == "in_process"
