"""``intently`` command line: a thin shell over the library.

Exit codes: 0 success, 1 an Intently error (message on stderr), 2 usage error, 3 a trained
model failed its quality gates (it is kept with status ``rejected``).
"""

from intently.cli import data, export, keys, models, predict, project, serve  # noqa: F401  (modules register their commands)
from intently.cli._app import EXIT_ERROR, EXIT_GATES_FAILED, app, main

__all__ = ["EXIT_ERROR", "EXIT_GATES_FAILED", "app", "main"]
