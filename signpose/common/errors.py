"""The error every layer may raise when the user has something to fix before any work can start."""


class SetupError(RuntimeError):
    """Something to fix before any work can start (a missing checkpoint, package or config), in one
    line that names the fix."""
