"""Moving registries in from MLflow: read an MLflow registry and import it by a plan
(``mlflow_source``, ``mlflow_import``). Exporting and importing a whole Charter
registry are the service's use cases (``service.archive``).

An adapter like ``api`` or ``cli``: it uses the service. Nothing in the core imports it.
"""
