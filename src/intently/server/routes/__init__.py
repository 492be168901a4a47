"""One router per resource; ``create_app`` includes them all."""

from intently.server.routes import classify, health, metrics, models, training

ROUTERS = (classify.router, models.router, training.router, health.router, metrics.router)

__all__ = ["ROUTERS"]
