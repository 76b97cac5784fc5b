"""The package's version, in a module of its own so that its parts need not import the package."""

__version__ = "0.1.0"
