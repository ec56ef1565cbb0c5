"""Approximate 8x8 multipliers: the bundled EvoApprox8b library and user-defined tables, in one registry."""

from tfaxdnn.multipliers.library import (EXACT_SIGNED, EXACT_UNSIGNED, PAPER_MULTIPLIERS, exact, get, lookup, names,
                                         register, registered, resolve)
from tfaxdnn.multipliers.decomposition import ErrorDecomposition
from tfaxdnn.multipliers.multiplier import Multiplier, exact_table, table_hash
from tfaxdnn.multipliers.reconfigurable import PRESETS as RECONFIGURABLE_PRESETS
from tfaxdnn.multipliers.reconfigurable import Reconfigurable

__all__ = ["Multiplier", "ErrorDecomposition", "Reconfigurable", "get", "lookup", "register", "registered", "names", "exact", "resolve",
           "exact_table", "table_hash", "EXACT_SIGNED", "EXACT_UNSIGNED", "PAPER_MULTIPLIERS",
           "RECONFIGURABLE_PRESETS"]
