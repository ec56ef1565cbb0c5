"""The compiled LUT op (C++ in ``cc/``), its loader and a NumPy reference implementation."""
