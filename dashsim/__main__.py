"""``python -m dashsim``: the ``dashsim`` command, for environments without the console script on PATH."""

import sys

from dashsim.cli import main

sys.exit(main())
