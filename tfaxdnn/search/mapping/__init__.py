"""Fine-grain mapping of reconfigurable multipliers under STL accuracy queries."""

from tfaxdnn.search.mapping.search import *  # noqa: F401,F403
from tfaxdnn.search.mapping.search import __all__  # noqa: F401
