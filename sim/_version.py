"""The package version, read once from the installed distribution's metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__: str = version("hta-sim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
