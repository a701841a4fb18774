"""The two expected failures every entry point reports as one ``error: ...`` line (see
:func:`litstyle.command.report_errors`).  The bottom floor of the package: it imports nothing."""


class ConfigError(ValueError):
    """A bad recipe or override. Its message is one line naming the key and what is allowed."""


class StageError(RuntimeError):
    """An expected stage failure (missing input, nothing usable): reported as one line, exit 1."""
