"""nix-audit: which of the packages you run are affected by published CVEs."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("nix-audit")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
