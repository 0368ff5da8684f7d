"""Charter's version, in a module of its own so the code below the package root can
read it without importing the package root (``charter/__init__.py``)."""

__version__ = "0.1.0"
