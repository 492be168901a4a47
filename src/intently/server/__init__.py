"""The HTTP service: ``create_app(settings)`` builds the FastAPI application.

Run it with ``intently serve``; see :mod:`intently.server.app` for the layout and
:mod:`intently.server.errors` for the error codes.
"""

from intently.errors import ServerConfigError
from intently.server.app import app_from_env, create_app
from intently.server.settings import Settings, get_settings

__all__ = ["ServerConfigError", "Settings", "app_from_env", "create_app", "get_settings"]
