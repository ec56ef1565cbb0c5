"""Exact-vs-approximate explanation maps (tf-explain methods, similarity, figures, a Keras callback)."""
