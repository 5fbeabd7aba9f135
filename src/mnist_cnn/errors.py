"""The project's one user-facing error type.

Anything the user can fix (a missing or corrupt file, a bad option, a wrong
array shape) raises `MnistCnnError` or a subclass with a message that names the
problem and says what to do. The command line prints that message on one line
and exits non-zero; programming errors keep their traceback.
"""


class MnistCnnError(Exception):
    """A problem the user can fix; the message says which and how."""


class DataError(MnistCnnError):
    """MNIST files missing, unreadable, corrupt or of the wrong kind."""
