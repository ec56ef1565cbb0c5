"""Writes tests/data/legacy/: files saved by tfaxdnn at commit 1614492 (before the renovation), to test that they
still load / resume after it."""
import os, sys
import numpy as np, keras
import tfaxdnn
from tfaxdnn.data import load_mnist, preprocess_mnist
out = sys.argv[1]
(xtr, ytr), (xte, yte), _ = load_mnist(full=False)
xtr, ytr, xte, yte = preprocess_mnist(xtr[:600]), ytr[:600], preprocess_mnist(xte[:200]), yte[:200]
keras.utils.set_random_seed(0)
i = keras.Input((28, 28, 1), name="image")
x = keras.layers.Conv2D(4, 5, strides=2, activation="relu", name="conv1")(i)
x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
x = keras.layers.BatchNormalization(name="bn")(x)
x = keras.layers.ReLU()(x)
x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv2")(x)
x = keras.layers.Flatten(name="flatten")(x)
x = keras.layers.Dense(16, activation="relu", name="fc1")(x)
model = keras.Model(i, keras.layers.Dense(10, name="fc2")(x), name="tiny")
model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(xtr, ytr, epochs=2, batch_size=64, verbose=0)
model.save(f"{out}/tiny.keras")
np.savez_compressed(f"{out}/data.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
plan = tfaxdnn.Plan({"conv1": {"multiplier": "mul8s_1L2N", "weight_mapping": "uniform"},
                     "dw": "mul8s_1L2J",
                     "conv2": {"multiplier": "recon_evo", "mode_fractions": (0.3, 0.3)},
                     "fc1": {"multiplier": "mul8s_1KVP", "skip_fraction": 0.25, "weight_mapping": "data"}},
                    default_multiplier="mul8s_1KV6")
ax = tfaxdnn.approximate(model, plan, calibration_data=xtr[:200], importance={"fc1": np.random.default_rng(0).random(16)})
ax.save(f"{out}/approx.keras")
np.savez_compressed(f"{out}/approx_logits.npz", x=xte[:32], logits=ax.predict(xte[:32], verbose=0))
tfaxdnn.plan_of(ax).to_json(f"{out}/approx_plan.json")
# a NAS checkpoint after generation 1 (the run is stopped there)
from tfaxdnn.search.nas import NASConfig, run_xainas
TINY = dict(pop_size=4, n_offsprings=2, generations=2, n_seeds=2, multipliers=("mul8s_1KV6", "mul8s_1KVP", "mul8s_1L2N"),
            importance_samples=40, n_steps=4, calibration_samples=100, max_skip=0.2, seed=3)
RUN = dict(validation_fraction=0.5, evaluation_samples=100, verbose=False, explain_images=0)
class Stop(Exception): pass
def stop(generation, summary):
    if generation == 1: raise Stop
nasdir = f"{out}/nas"
try:
    run_xainas(model, ((xtr, ytr), (xte, yte)), nasdir, NASConfig(**TINY), on_generation=stop, **RUN)
except Stop:
    pass
for f in os.listdir(nasdir):
    if f not in ("checkpoint.pkl", "importance.npz"):
        os.remove(os.path.join(nasdir, f))
full = run_xainas(model, ((xtr, ytr), (xte, yte)), os.path.join(os.environ.get("TMPDIR", "/tmp"), "legacy_full"), NASConfig(**TINY), **RUN)
import json
json.dump({"hypervolume": full.hypervolume, "front": [r["genome"] for r in full.front],
           "records": [[r["genome"], r["accuracy"], r["relative_energy"]] for r in full.records]},
          open(f"{out}/nas_uninterrupted.json", "w"), indent=1, default=str)
print(os.listdir(out), os.listdir(nasdir))
