"""The engine's version (a leaf module: the manifest records it without importing the package)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
