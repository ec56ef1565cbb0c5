"""tfaxdnn: approximate deep neural networks on TensorFlow/Keras with compiled LUT multipliers."""

__version__ = "0.1.0"

from tfaxdnn import multipliers  # noqa: E402  (light: numpy only)

__all__ = ["multipliers", "__version__"]
