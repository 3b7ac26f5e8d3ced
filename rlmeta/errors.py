"""One exception type for bad user input. The CLI turns it into a one-line message and exit code 2."""


class ConfigError(ValueError):
    """Bad user input: unknown env/algo, wrong action space, bad config value, corrupt checkpoint."""
