"""The ``jaxrec`` command line (``jaxrec audit``, ``jaxrec stats``)."""

from jaxrec.cli._main import main as main

__all__ = ["main"]
