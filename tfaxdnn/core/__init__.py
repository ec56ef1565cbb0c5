"""The pieces every stage shares: the table of approximable layer kinds (`kinds`), the one neuron-skipping rule
(`skipping`), name errors with "Did you mean" (`errors`), accuracy of a model on labelled data (`evaluation`) and
JSON encoding of NumPy values (`serialization`). Imports nothing else of tfaxdnn."""
