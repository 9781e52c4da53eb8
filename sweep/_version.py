"""The package version, alone in its module: provenance stamps it, and importing it loads nothing else."""

__version__ = "0.1.0"
