"""One router per resource; ``create_app`` includes them all."""

from intently.server.routes import classify, health, metrics, models, review, toolcalls, training

ROUTERS = (
    classify.router,
    models.router,
    training.router,
    review.router,
    health.router,
    metrics.router,
    toolcalls.router,
)

__all__ = ["ROUTERS"]
