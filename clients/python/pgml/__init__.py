"""pgml: the native asyncio client of pgmld.

Everything is implemented in C (pgml._pgml) and generated from the .proto:
Database, the bound classes (Collection), the result classes and the error
hierarchy rooted at pgml.Error.  See docs/clients/python.md.
"""
from pgml._pgml import *  # noqa: F401,F403
from pgml._pgml import __version__  # noqa: F401
