"""The ``charter`` command line: thin commands over the Registry interface.

``main.py`` builds the Typer app; commands live in ``lifecycle.py`` (versions and
stages), ``edits.py`` (tags, aliases, names, descriptions), ``reads.py`` (listing,
showing, resolving, pulling) and ``admin.py`` (audit, database). Output goes
through ``render.py`` and every error through the one funnel in ``errors.py``.
"""
