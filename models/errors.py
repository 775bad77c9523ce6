"""Errors a user can cause; each carries one line that says what went wrong and how to fix it."""


class LookInsideError(Exception):
    """Base for errors shown to the user as a single line, never as a traceback.

    `brief` is the sentence for a web page's visitor, who cannot act on the server's paths and flags;
    the full message (for the command line and the log) is the default, except for the kinds whose messages
    name the server's files: theirs is the class's BRIEF, which names none.
    """

    BRIEF = ""

    def __init__(self, message: str = "", brief: str = ""):
        super().__init__(message)
        self.brief = brief or self.BRIEF or message


class DataError(LookInsideError):
    """A dataset is missing, corrupt, or cannot be downloaded."""

    BRIEF = "A dataset's files on this server are missing or damaged."


class CheckpointError(LookInsideError):
    """A checkpoint is unreadable, corrupt, or does not match what was asked for."""

    BRIEF = "A saved network on this server is missing or cannot be read."


class ConfigError(LookInsideError):
    """A setting is invalid: unknown name, unusable directory, unavailable device."""


class TrainingCancelled(LookInsideError):
    """Training was stopped from another thread before it finished."""


class DamagedCache(LookInsideError):
    """A file derived from a checkpoint (evaluation, timeline) is there but cannot be read."""
