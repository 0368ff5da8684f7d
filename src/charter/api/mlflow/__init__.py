"""MLflow Model Registry REST 2.0 surface under ``/api/2.0/mlflow/`` (and ``/ajax-api/``).

``mlflow.set_registry_uri("http://charter:PORT")`` works against it; see docs/mlflow.md.
Layout: ``params`` reads requests, ``shapes`` writes MLflow's JSON, ``routes`` holds
the thin handlers and the route table.
"""

from charter.api.mlflow.routes import router

__all__ = ["router"]
