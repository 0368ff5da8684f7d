"""MLflow Model Registry REST 2.0 surface under ``/api/2.0/mlflow/`` (and ``/ajax-api/``).

``mlflow.set_registry_uri("http://charter:PORT")`` works against it; see docs/mlflow.md.
Layout: ``params`` reads requests, ``shapes`` writes MLflow's JSON, ``routes`` holds
the thin handlers and the route table, ``artifacts`` serves Charter-stored files to
MLflow's artifact client.
"""

from fastapi import APIRouter

from charter.api.mlflow import artifacts, routes

# The artifact routes (and get-download-uri, which needs the request's URL) match first.
router = APIRouter()
router.routes.extend(artifacts.routes)
router.routes.extend(routes.router.routes)

__all__ = ["router"]
