"""``python -m stream [--check]``: which engine runs, compiled (mypyc) or pure Python."""

import sys

from stream._compiled import main

sys.exit(main())
