"""``intently`` command line: a thin shell over the library.

Exit codes: 0 success, 1 an Intently error, 2 usage error, 3 quality gate failed, 4 storage
(disk full, permission, read-only), 5 the service cannot start, 6 database, 130 interrupted
(see ``intently.cli._app``).
"""

from intently.cli import (  # noqa: F401  (modules register their commands)
    data,
    db,
    detect,
    export,
    feedback,
    generate,
    issues,
    keys,
    label,
    learning,
    mcp,
    models,
    predict,
    project,
    proxy,
    review,
    serve,
    tool_ner,
    tune,
)
from intently.cli._app import (
    EXIT_DATABASE,
    EXIT_ERROR,
    EXIT_GATES_FAILED,
    EXIT_INTERRUPTED,
    EXIT_SERVER_START,
    EXIT_STORAGE,
    EXIT_USAGE,
    app,
    main,
)

__all__ = [
    "EXIT_DATABASE",
    "EXIT_ERROR",
    "EXIT_GATES_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_SERVER_START",
    "EXIT_STORAGE",
    "EXIT_USAGE",
    "app",
    "main",
]
