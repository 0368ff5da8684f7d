"""Charter: a model registry in which names and stages are product contracts.

    import charter
    registry = charter.connect()                      # embedded, under $CHARTER_HOME
    registry = charter.connect("sqlite:///reg.db")    # embedded, this database
    registry = charter.connect("./registry-data")     # embedded, this folder
    registry = charter.connect("http://host:8080")    # a Charter server
"""

from charter._version import __version__
from charter.connection import connect

__all__ = ["connect", "__version__"]
