"""The default number of local Dask workers follows the core count (in-process on <= 2 cores)."""

import numpy as np

from tfaxdnn.search import runners


def test_default_workers_follows_core_count(monkeypatch):
    for cores, expected in ((1, 0), (2, 0), (None, 0), (4, 2), (16, 8)):
        monkeypatch.setattr(runners.os, "cpu_count", lambda c=cores: c)
        assert runners.default_workers() == expected, cores
    monkeypatch.setattr(runners.os, "cpu_count", lambda: 2)
    assert isinstance(runners.make_runner(runners.default_workers()), runners.SerialRunner)


def test_runners_share_pymoos_protocol():
    """A runner is ``runner(f, X) -> [f(x) for x in X]`` (pymoo's elementwise runners), closable as a context."""
    with runners.SerialRunner() as runner:
        assert runner(lambda x: 2 * x, [3, 1, 2]) == [6, 2, 4] and runner(len, []) == []
    from pymoo.core.problem import ElementwiseProblem

    class Square(ElementwiseProblem):
        def __init__(self):
            super().__init__(n_var=1, n_obj=1, xl=0.0, xu=1.0, elementwise_runner=runners.SerialRunner())

        def _evaluate(self, x, out, *args, **kwargs):
            out["F"] = x ** 2

    assert Square().evaluate(np.array([[2.0], [3.0]])).ravel().tolist() == [4.0, 9.0]
