"""The exceptions of ``syncbatch``. Every one is a :class:`syncbatch.Error`;
Ctrl-C during a call raises ``KeyboardInterrupt`` (and leaves nothing
half-written)."""

from typing import Any, List, Optional


class Error(Exception):
    """Any failure of a ``syncbatch`` call.

    Attributes: ``kind`` (a short code: ``invalid_records``,
    ``no_compliant_split``, ``io``, ``usage``, ...), and where it applies
    ``file``, ``line`` (1-based) and ``byte`` (0-based offset) of the input
    that caused it.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "other",
        file: Optional[str] = None,
        line: Optional[int] = None,
        byte: Optional[int] = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.file = file
        self.line = line
        self.byte = byte
        for name, value in extra.items():
            setattr(self, name, value)

    def __str__(self) -> str:
        return self.message


class ValidationError(Error):
    """The input is not compliant: invalid records (``kind ==
    "invalid_records"``), or no compliant split exists (``"no_compliant_split"``).
    ``diagnostics`` lists what was found, as :class:`syncbatch.Diagnostic`."""

    diagnostics: List[Any]

    def __init__(self, message: str, *, diagnostics: Optional[List[Any]] = None, **kw: Any) -> None:
        from syncbatch import Diagnostic

        super().__init__(message, **kw)
        self.diagnostics = [Diagnostic._from(d) for d in diagnostics or []]


class UsageError(Error, ValueError):
    """Arguments that cannot work together (contradictory limits, a
    directory that is not empty, an option that clashes with a campaign's)."""


class FileError(Error, OSError):
    """A file could not be read or written."""


class ApiError(Error):
    """The Sync API failed: ``status`` (the HTTP status, if any),
    ``server_message``, and ``may_have_created`` (a create that may have made
    a batch: never send it again blindly)."""

    status: Optional[int]
    server_message: str
    may_have_created: bool


class CampaignError(Error):
    """A campaign stopped and needs you (``kind``: ``candidates``,
    ``foreign``, ``vanished``, ``refused``, ``download``): ``batch_file`` and
    ``ids`` say which."""

    batch_file: str
    ids: List[str]
