"""Approximate 8x8 multipliers: the bundled EvoApprox8b library and user-defined tables."""

from tfaxdnn.multipliers.library import (EXACT_SIGNED, EXACT_UNSIGNED, PAPER_MULTIPLIERS, exact, get, names,
                                         resolve)
from tfaxdnn.multipliers.multiplier import Multiplier, exact_table, table_hash

__all__ = ["Multiplier", "get", "names", "exact", "resolve", "exact_table", "table_hash", "EXACT_SIGNED",
           "EXACT_UNSIGNED", "PAPER_MULTIPLIERS"]
