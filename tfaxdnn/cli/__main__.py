"""``python -m tfaxdnn.cli ...``: the ``tfaxdnn`` command."""

import sys

from tfaxdnn.cli import main

sys.exit(main())
