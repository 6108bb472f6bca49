"""The package version, in a module of its own so that modules inside the package need not import the facade."""

__version__ = "0.1.0"
