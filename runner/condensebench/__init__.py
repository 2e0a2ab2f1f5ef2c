"""condensebench: evaluate condensed training sets under frozen protocols."""

__version__ = "0.1.0"
