"""Fine-grain weight-to-approximation mapping of a reconfigurable multiplier under STL accuracy queries
(formal-mapping paper, Section IV; SPEC section 10).

Modules, in dependency order:

- `queries`: STL queries over the per-batch accuracy-drop signal (rtamt), the paper's Q1-Q7;
- `problem`: `MappingProblem` (evaluator, multiplier, weight codes, exact reference), `MappingPoint`, `MappingResult`;
- `objective`: `BudgetedObjective`, the budgeted, cached evaluation every method queries, and its scalar value;
- `anneal`: the warm-started dual annealing of the annealed methods;
- `methods`: ours (`search_mapping`), the homogeneous and greedy baselines, `METHODS`, `run_method`;
- `report`: comparing the methods over a set of queries (protocols, rows, CSV); `plots`: the paper's figures.
"""

from tfaxdnn.search.mapping.methods import METHODS, greedy_baseline, homogeneous_baseline, run_method, search_mapping
from tfaxdnn.search.mapping.problem import MappingPoint, MappingProblem, MappingResult

__all__ = ["MappingProblem", "MappingPoint", "MappingResult", "search_mapping", "homogeneous_baseline",
           "greedy_baseline", "METHODS", "run_method"]
