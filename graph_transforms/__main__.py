"""``python -m graph_transforms ...``: see `graph_transforms.cli`."""

import sys

from graph_transforms.cli import main

sys.exit(main())
