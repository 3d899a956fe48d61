"""The same blocks on a Dask distributed cluster give exactly the local results."""

from __future__ import annotations

import pytest

from matching.batch import BatchOptions
from matching.services.nightly import run_nightly

from .conftest import published
from .toy_engine import factory

distributed = pytest.importorskip("distributed")


@pytest.mark.slow
def test_dask_cluster_results_equal_local_run(settings, engine, territory):
    run_nightly(
        settings,
        options=BatchOptions(block_size=150, n_jobs=1, full=True),
        today=territory.as_of,
        engine_factory=factory,
        store=engine,
    )
    local = published(engine)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = run_nightly(
            settings,
            options=BatchOptions(block_size=150, backend="dask", full=True),
            today=territory.as_of,
            engine_factory=factory,
            store=engine,
            client=client,
        )
        workers_used = len(client.scheduler_info()["workers"])
    assert res.report["options"]["backend"] == "dask" and workers_used == 2
    assert res.report["options"]["blocks"] > 2
    assert published(engine) == local
