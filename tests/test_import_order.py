"""The approximate layers are registered with Keras whatever is imported first, and no entry order meets a half-run
module: `tfaxdnn/__init__.py` registers them (imports `tfaxdnn.layers`) right after keras, and `tfaxdnn.ops` imports
keras before any of its modules, so keras's first importer is never a half-run module that `tfaxdnn.layers` needs
(``import tfaxdnn.ops.lowrank_form`` failed with "cannot import name 'table_fingerprint' from partially initialized
module").

A TensorFlow import per order would cost too much, so two interpreters run side by side, each going through several
orders: the first from a really fresh interpreter, the next ones after `fresh` (which forgets tfaxdnn and keras's
top-level module, so that ``import keras`` runs keras's module code again; its submodules and TensorFlow stay).
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: the interpreters, each {order: code that starts from "neither keras nor tfaxdnn imported"}
RUNS = [
    {
        "ops.lowrank_form": "import tfaxdnn\nfrom tfaxdnn.ops.lowrank_form import form_of",  # the reported failure
        "ops.backend": "import tfaxdnn.ops.backend",
        "ops.lowrank": "import tfaxdnn.ops.lowrank",
    },
    {
        # a plain `import tfaxdnn` stays light (no keras, no layers) and registers them once keras comes
        "tfaxdnn, keras": "import tfaxdnn\n"
                          "assert 'keras' not in sys.modules and 'tfaxdnn.layers' not in sys.modules\n"
                          "import keras",
        "layers": "import tfaxdnn.layers",
        "keras, tfaxdnn": "import keras\nimport tfaxdnn",
    },
]

DRIVER = r'''
import sys, traceback


def fresh():
    for name in [n for n in sys.modules if n in ("keras", "tfaxdnn") or n.startswith("tfaxdnn.")]:
        del sys.modules[name]
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "_RegisterLayersAfterKeras"]


def check():
    # registered by the end of the entry's own imports
    assert "tfaxdnn.layers" in sys.modules, "tfaxdnn.layers not imported"
    import keras
    from tfaxdnn.layers import custom_objects
    classes = custom_objects()
    assert {"ApproxConv2D", "ApproxDepthwiseConv2D", "ApproxDense", "FakeQuant"} <= set(classes), classes
    # (`is`: a class registered by an earlier order is another object)
    missing = [n for n, c in classes.items() if keras.saving.get_registered_object("tfaxdnn>" + n) is not c]
    assert not missing, f"not registered: {missing}"


for i, (order, code) in enumerate(ORDERS.items()):
    if i:
        fresh()
    try:
        exec(code, {"sys": sys})
        check()
        print("REGISTERED", order, flush=True)
    except BaseException:
        print("FAILED", order, flush=True)
        traceback.print_exc(file=sys.stdout)
'''


@pytest.fixture(scope="module")
def outputs():
    env = dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    procs = [subprocess.Popen([sys.executable, "-c", f"ORDERS = {orders!r}\n{DRIVER}"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for orders in RUNS]
    try:
        return [proc.communicate(timeout=300)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("run, order", [(i, order) for i, orders in enumerate(RUNS) for order in orders])
def test_import_order_succeeds_and_registers_the_layers(outputs, run, order):
    out = outputs[run]
    assert f"REGISTERED {order}\n" in out, out[-6000:]
