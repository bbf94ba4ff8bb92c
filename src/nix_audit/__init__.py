"""nix-audit: which of the packages you run are affected by published CVEs."""

__all__ = ["__version__"]

# The one place the version is written; pyproject.toml reads it from here. A constant, not
# importlib.metadata: that lookup costs a scan ~30 ms of start-up.
__version__ = "0.1.0"
