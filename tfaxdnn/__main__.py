"""``python -m tfaxdnn ...``: see `tfaxdnn.cli`."""

import sys

from tfaxdnn.cli import main

sys.exit(main())
