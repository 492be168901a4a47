"""One router per resource; ``create_app`` includes them all."""

from intently.server.routes import (
    ab,
    classify,
    health,
    metrics,
    models,
    monitoring,
    review,
    toolcalls,
    training,
)

ROUTERS = (
    classify.router,
    models.router,
    training.router,
    review.router,
    health.router,
    metrics.router,
    toolcalls.router,
    ab.router,
    monitoring.router,
)

__all__ = ["ROUTERS"]
