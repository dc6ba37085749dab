"""The ``tierflow`` command-line interface (click)."""
