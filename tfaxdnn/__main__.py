"""``python -m tfaxdnn ...``: see `tfaxdnn.cli`."""

import sys

from tfaxdnn.cli.main import main

sys.exit(main())
