"""Moving registries: read an MLflow registry and import it by a plan (``mlflow_source``,
``mlflow_import``); export a Charter registry and import it elsewhere (``archive``).

An adapter like ``api`` or ``cli``: it uses the service, and the store for the
verbatim bulk load of an export. Nothing in the core imports it.
"""
