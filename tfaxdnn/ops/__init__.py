"""The compiled LUT op (C++ in ``cc/``), its loader, the low-rank path (``keras.ops``) and a NumPy reference
implementation."""

# Keras first: its import registers the approximate layers (`tfaxdnn.layers`, see tfaxdnn/__init__.py), which import
# modules of this package; were keras first imported by one of them (``import tfaxdnn.ops.lowrank_form``), that module
# would be half-run when `tfaxdnn.layers` asks for it. A half-initialised package is harmless: its submodules load.
import keras  # noqa: F401,E402
