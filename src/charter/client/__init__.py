"""Remote Python client: the Registry interface over a Charter server.

    import charter
    with charter.connect("http://charter:8080") as registry:   # a RemoteRegistry
        registry.promote("fraud_detector", 3, "Production", reason="…")

The embedded registry and this client share method names, parameters, records
and error classes; see docs/python.md.
"""

from charter.client.pager import Pager, iter_models
from charter.client.remote import RemoteRegistry

__all__ = ["Pager", "RemoteRegistry", "iter_models"]
