"""The errors the domain raises for a person to read."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad usage: a spider argument or setting a run cannot start with (exit status 2)."""
