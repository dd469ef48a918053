"""``python -m spikeforge.boards.baselines write ...``: see the package docstring."""

import sys

from . import main

sys.exit(main())
