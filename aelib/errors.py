"""The errors that the CLI and the panel turn into a one-line message (and exit status 2).

Every error aelib raises on purpose is an :class:`AelibError`, stated in one clear line; its
subclasses say whose problem it is, so a caller can tell a bad input from a damaged file or a
training run that had to stop. None of them is used for control flow inside aelib.
"""


class AelibError(Exception):
    """A problem with the user's input, files or environment, stated in one clear line."""


class InputError(AelibError):
    """Something the user gave cannot be used: a path, an image, an argument, a setting, an output folder."""


class FormatError(AelibError):
    """A file is not what it claims to be: a corrupt, forged or foreign ``.aec`` file, model, tables or checkpoint."""


class TrainingError(AelibError):
    """Training had to stop: a NaN or infinite loss, or latents that collapsed to one code."""
