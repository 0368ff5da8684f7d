"""The web server: the composition root above ``api/`` and ``ui/``.

``app.create_app`` builds the one ASGI app and mounts the MLflow surface, REST v1 and
the web UI; ``access`` admits each request by the rule of the route it asks for;
``run`` is ``charter serve`` (uvicorn, one process or a ``supervisor`` of workers).
Nothing below imports this package: ``api/`` and ``ui/`` share only ``charter.web``.
"""
