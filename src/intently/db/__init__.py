"""Intently's database: API keys and training runs of the HTTP service.

SQLAlchemy 2 with Alembic migrations shipped in the package; SQLite by default
(``sqlite:///<project folder>/intently.db``), PostgreSQL with ``pip install 'intently[postgres]'``.

    db = Database(url)          # url: --database-url, INTENTLY_DATABASE_URL or
    db.migrate()                #      default_database_url(project.root)
    keys = ApiKeyStore(db)
    record, plaintext = keys.create(Role.ADMIN, name="ci")
    keys.verify(plaintext)      # Role.ADMIN
    runs = TrainingRunStore(db)
    run = runs.create("intent")  # RunConflict while another run of "intent" is active

Errors::

    IntentlyError
    ├── DatabaseError   unreachable, unmigratable or failing database          (E710)
    │   └── RunNotFound no training run has this id                             (E712)
    ├── RunConflict     a run of the task is already queued or running          (E711)
    └── InvalidRole     a role other than predict or admin                      (E713)
"""

from intently.db.engine import Database, DatabaseError, default_database_url
from intently.db.interactions import InteractionRecord, InteractionStore
from intently.db.keys import ApiKeyRecord, ApiKeyStore, InvalidRole, Role
from intently.db.runs import (
    RunConflict,
    RunNotFound,
    RunStatus,
    TrainingRunRecord,
    TrainingRunStore,
)

__all__ = [
    "ApiKeyRecord",
    "ApiKeyStore",
    "Database",
    "DatabaseError",
    "InteractionRecord",
    "InteractionStore",
    "InvalidRole",
    "Role",
    "RunConflict",
    "RunNotFound",
    "RunStatus",
    "TrainingRunRecord",
    "TrainingRunStore",
    "default_database_url",
]
