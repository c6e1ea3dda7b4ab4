"""The errors the domain raises for a person to read."""

from __future__ import annotations

# The exit statuses of every command: a run that failed (or a runtime failure), bad usage.
EXIT_FAILED_RUN = 1
EXIT_BAD_USAGE = 2


class ConfigError(ValueError):
    """Bad usage: a spider argument or setting a run cannot start with (exit status 2)."""
