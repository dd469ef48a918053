"""User-facing errors: the CLI prints them as one line and exits with status 2."""


class UserError(Exception):
    """Bad input from the user (arguments, files, data).  The message says what was
    wrong and what is allowed."""
