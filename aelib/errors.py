"""The one exception type that the CLI and the panel turn into a one-line message."""


class AelibError(Exception):
    """A problem with the user's input or environment, stated in one clear line."""
