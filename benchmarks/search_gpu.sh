#!/usr/bin/env bash
# The searches of examples/xainas_resnet8.py (XAI-NAS, its ALWANN-style baseline, XAI-Gen) on a GPU machine without
# TensorFlow: Keras's JAX backend, every candidate scored through the low-rank path, conductance from the pack.
#
#   bash benchmarks/search_gpu.sh PACK_DIR OUT "MODEL[:TIMEOUT_S] ..." [extra flags of xainas_resnet8.py]
#
# PACK_DIR: examples/search_pack.py's output (pack.npz, <model>/importance.npz); wheels of keras, namex, optree and
# pymoo with its dependencies in .whl/ and .whl/search/ (the GPU machines at hand have no network), fetched with e.g.
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 -d .whl/search \
#       pymoo==0.6.2 moocore alive_progress about-time==4.2.1 graphemeu==0.7.2 autograd cma Deprecated wrapt cffi \
#       platformdirs
# (keras, namex and optree likewise into .whl/). First a small
# run for the cross-check against the same command on CPU (benchmarks/check_search_pack.py --against), then each
# model's full comparison (--evaluation-samples 0: all validation images), each under its own timeout (a cut run
# resumes with --resume: checkpoints are written every generation). SMALL_LIMIT: the small run's timeout (300 s).
set -u
PACK=$1; OUT=$2; MODELS=$3; shift 3
SITE=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
    .whl/*.whl $(ls .whl/search/*.whl | grep -v -e cffi -e platformdirs) || exit 1
for mod in cffi platformdirs; do    # only where the machine lacks them
    python3 -c "import $mod" 2>/dev/null || python3 -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --target "$SITE" .whl/search/${mod}-*.whl
done
export PYTHONPATH=$SITE KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
mkdir -p "$OUT"
python3 - <<'EOF' 2>&1 | tee "$OUT/environment.txt"
import importlib, jax, keras, numpy
from tfaxdnn.ops import backend
print("device:", backend.device(), "| jax", jax.__version__, "| keras", keras.__version__, "| numpy", numpy.__version__)
for m in ("pymoo", "moocore", "scipy", "matplotlib", "tqdm", "pandas", "tensorflow"):
    try:
        print(m, getattr(importlib.import_module(m), "__version__", "?"))
    except Exception as e:
        print(m, "MISSING:", type(e).__name__, e)
EOF
small="--evaluation-samples 400 --pop 6 --generations 1 --seeds 3 --no-xaigen --tolerance-seeds 0"
common="--workers 0 --max-accuracy-drop 0.01 --energy-accounting compute"
first=${MODELS%% *}; first=${first%%:*}
timeout "${SMALL_LIMIT:-300}" python3 examples/xainas_resnet8.py --pretrained "$first" --pack "$PACK/pack.npz" \
    --importance "$PACK/$first/importance.npz" --calibration "$PACK/$first/calibration.json" $small $common \
    --out "$OUT/small_$first" > "$OUT/small_$first.log" 2>&1
echo "small run: exit $?"
for item in $MODELS; do
    model=${item%%:*}; limit=${item#*:}; [ "$limit" = "$item" ] && limit=600
    resume=""; [ -e "$OUT/$model/xainas/checkpoint.pkl" ] && resume="--resume"
    timeout "$limit" python3 examples/xainas_resnet8.py --pretrained "$model" --pack "$PACK/pack.npz" \
        --importance "$PACK/$model/importance.npz" --calibration "$PACK/$model/calibration.json" \
        --evaluation-samples 0 $common $resume "$@" --out "$OUT/$model" > "$OUT/$model.log" 2>&1
    echo "$model: exit $? (limit $limit s)"
done
