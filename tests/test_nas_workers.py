"""The default number of local Dask workers follows the core count (in-process on <= 2 cores)."""

from tfaxdnn.search import runners as dask_runner


def test_default_workers_follows_core_count(monkeypatch):
    for cores, expected in ((1, 0), (2, 0), (None, 0), (4, 2), (16, 8)):
        monkeypatch.setattr(dask_runner.os, "cpu_count", lambda c=cores: c)
        assert dask_runner.default_workers() == expected, cores
    monkeypatch.setattr(dask_runner.os, "cpu_count", lambda: 2)
    assert isinstance(dask_runner.make_runner(dask_runner.default_workers()), dask_runner.SerialRunner)
