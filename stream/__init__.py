"""The engine: decoded events in, per-queue state and KPIs out.

The hot modules may run compiled with mypyc; ``ENGINE`` tells whether they do. The guard
in ``_compiled.py`` runs here, before any of them is imported, so a compiled module older
than its source never runs.
"""

from ._compiled import activate

ENGINE = activate()
