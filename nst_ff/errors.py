"""The one family of expected failures: every bad input, file, setting or run that a user can mend derives from
`NstError`, and the command-line layer alone turns it into one line on stderr and exit code 2."""


class NstError(Exception):
    """An expected failure with a one-line message a user can act on."""


class UsageError(NstError, ValueError):
    """A bad option or input; the message is one line for stderr."""
