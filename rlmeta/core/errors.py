"""One exception type for bad user input. The CLI turns it into a one-line message and exit code 2."""

from __future__ import annotations

import importlib
from types import ModuleType


class ConfigError(ValueError):
    """Bad user input: unknown env/algo, wrong action space, bad config value, corrupt checkpoint."""


def require_extra(module: str, extra: str, what: str) -> ModuleType:
    """Import an optional dependency, or raise a ConfigError that names the extra installing it, up
    front: a missing package found only after training (a video at the end) loses the run.

    Example:
        >>> optuna = require_extra("optuna", "sweep", "rlmeta sweep")
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(
            f"{what} needs {module.split('.')[0]}, from the `{extra}` extra (pip install -e "
            f"'.[{extra}]'); importing it failed: {e}"
        ) from None
