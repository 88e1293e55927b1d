"""Errors that reach the user as one clear line naming the file or key at fault."""


class AlLoopError(Exception):
    """Base class: the CLI prints ``str(err)`` alone, without a traceback."""


class ConfigError(AlLoopError):
    """An invalid config key or value."""


class DataError(AlLoopError):
    """A missing, unreadable or inconsistent image or mask."""


class StoreError(AlLoopError):
    """A label store that does not match the run asking for it."""


class RunDirError(AlLoopError):
    """A run directory (or app project) that cannot be used now: locked by another process,
    not writable, or out of space."""
