"""syncbatch: the files and the whole workflow of the Sync Labs lip-sync Batch
API, on the Rust engine of the ``syncbatch`` command line.

- :func:`validate` a batch file (a path, ``bytes``, or lines) with
  line-precise diagnostics;
- :func:`split` inputs of any size into compliant batch files;
- :func:`merge` result files back to the requests, in request order, with a
  retry set;
- :func:`run` a whole campaign (split, submit, wait, download, merge, retry),
  resumable, and :func:`status` to look at one; :class:`Client` for the API
  calls one by one.

Long calls release the GIL, show no progress unless given a ``progress``
callable, and stop cleanly on Ctrl-C (``KeyboardInterrupt``; nothing is left
half-written). Failures raise :class:`Error` and its subclasses.

>>> import syncbatch
>>> report = syncbatch.validate("examples/data/input.jsonl")  # doctest: +SKIP
>>> report.valid, report.records  # doctest: +SKIP
(True, 20)
"""

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

from syncbatch import _native
from syncbatch.errors import (
    ApiError,
    CampaignError,
    Error,
    FileError,
    UsageError,
    ValidationError,
)

__version__: str = _native.__version__

__all__ = [
    "ApiError",
    "CampaignError",
    "Client",
    "Diagnostic",
    "Error",
    "FakeApi",
    "FileError",
    "Manifest",
    "MergeResult",
    "Report",
    "Summary",
    "RunResult",
    "UsageError",
    "ValidationError",
    "merge",
    "run",
    "split",
    "status",
    "validate",
]

PathLike = Union[str, os.PathLike]
Source = Union[PathLike, bytes, bytearray, memoryview, Iterable[Union[str, bytes]]]
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Diagnostic:
    """One finding of the validator, as the command line prints it.

    ``code`` is the stable code (``duplicate_request_id``, ...), ``severity``
    ``"error"`` or ``"warning"``; ``line`` and ``column`` are 1-based, ``byte``
    the 0-based offset of the line; ``path`` the JSON path of the field
    (``payload.input[1].url``), ``request_id`` the line's id, when known.
    """

    code: str
    severity: str
    message: str
    line: Optional[int] = None
    column: Optional[int] = None
    byte: Optional[int] = None
    request_id: Optional[str] = None
    path: Optional[str] = None
    file: Optional[str] = None

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "Diagnostic":
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})

    def to_dict(self) -> Dict[str, Any]:
        """The diagnostic as a plain ``dict`` (for JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class Report:
    """What :func:`validate` found: ``valid`` (no errors, and no warnings
    with ``deny_warnings``), ``records`` (non-blank lines), ``bytes``,
    ``errors`` and ``warnings`` (counts), and every :class:`Diagnostic`."""

    valid: bool
    records: int
    bytes: int
    errors: int
    warnings: int
    diagnostics: List[Diagnostic] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        """The report as a plain ``dict`` (for JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class Manifest:
    """What :func:`split` wrote: ``files`` (the batch files' paths, in
    order), ``batches`` (the manifest's entries: file, records, bytes, first
    and last request id), and the figures."""

    out_dir: Path
    files: List[Path]
    batches: List[Dict[str, Any]]
    records: int
    rejected: int
    dropped_blank_lines: int
    warnings: int
    diagnostics: List[Diagnostic] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        """The manifest as a plain ``dict``."""
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        d["files"] = [str(f) for f in self.files]
        return d


@dataclass(frozen=True)
class MergeResult:
    """What :func:`merge` did: the figures (``requests``, ``completed``,
    ``failed``, ``rejected``, ``other``, ``missing``, ``duplicates``,
    ``unknown``, ``malformed``, ``skipped``), the ``notes`` on single lines,
    and the ``retry`` set (``{"kind": "batches"|"undersized"|"nothing", ...}``
    or ``None``)."""

    requests: int
    completed: int
    failed: int
    rejected: int
    other: int
    missing: int
    duplicates: int
    unknown: int
    malformed: int
    skipped: int
    notes: List[Dict[str, Any]] = field(default_factory=list)
    retry: Optional[Dict[str, Any]] = None

    def to_dict(self) -> Dict[str, Any]:
        """The result as a plain ``dict``."""
        return asdict(self)


Summary = MergeResult
"""What :func:`merge` returns (another name of :class:`MergeResult`)."""


@dataclass(frozen=True)
class RunResult:
    """How :func:`run` ended: ``finished`` (merged) with the merge's
    ``summary`` and ``not_completed``; or, with ``no_wait``, ``created`` of
    ``files`` batches created."""

    finished: bool
    summary: Optional[Dict[str, int]] = None
    not_completed: int = 0
    strict: bool = False
    created: int = 0
    files: int = 0

    @property
    def ok(self) -> bool:
        """Whether the run succeeded as the command line's exit 0 means."""
        return not (self.strict and self.not_completed > 0)


def _lines_to_bytes(lines: Iterable[Union[str, bytes]]) -> bytes:
    parts = []
    for line in lines:
        if isinstance(line, str):
            line = line.encode("utf-8")
        parts.append(line if line.endswith(b"\n") else line + b"\n")
    return b"".join(parts)


def validate(
    source: Source,
    *,
    max_records: int = 500,
    min_records: int = 20,
    max_bytes: int = 5_000_000,
    deny_warnings: bool = False,
    name: Optional[str] = None,
    progress: Optional[Progress] = None,
) -> Report:
    """Checks one batch input file, as ``syncbatch validate`` does, and
    returns a :class:`Report` with every diagnostic.

    ``source`` is a path (``str`` or ``os.PathLike``), ``bytes``, or an
    iterable of lines (``str`` or ``bytes``, with or without their newline).
    ``progress(name, bytes, records)`` is called about ten times a second if
    given. Runs at the command line's speed, the GIL released.

    >>> r = syncbatch.validate(b'{"request_id":"a"}\\n', min_records=1)
    >>> r.valid, r.diagnostics[0].code, r.diagnostics[0].line
    (False, 'missing_field', 1)

    Raises :class:`FileError` when the file cannot be read, and
    :class:`UsageError` for contradictory limits.
    """
    limits = dict(
        max_records=max_records,
        min_records=min_records,
        max_bytes=max_bytes,
        deny_warnings=deny_warnings,
        progress=progress,
    )
    if isinstance(source, (str, os.PathLike)):
        summary, diagnostics = _native.validate(path=os.fspath(source), **limits)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        summary, diagnostics = _native.validate(data=bytes(source), name=name or "<bytes>", **limits)
    else:
        data = _lines_to_bytes(source)
        summary, diagnostics = _native.validate(data=data, name=name or "<lines>", **limits)
    return Report(diagnostics=[Diagnostic._from(d) for d in diagnostics], **summary)


def split(
    inputs: Union[PathLike, Sequence[PathLike]],
    out_dir: PathLike,
    *,
    skip_invalid: bool = False,
    wrap: bool = False,
    id_prefix: str = "req-",
    prefix: str = "batch",
    max_records: int = 500,
    min_records: int = 20,
    max_bytes: int = 5_000_000,
    deny_warnings: bool = False,
    force: bool = False,
    sync: bool = False,
    progress: Optional[Progress] = None,
) -> Manifest:
    """Splits ``inputs`` (read in order as one stream) into compliant batch
    files ``out_dir/<prefix>-00001.jsonl, ...`` and ``out_dir/manifest.json``,
    as ``syncbatch split --out out_dir`` does: the fewest batches, unique ids,
    every file written whole or not at all.

    ``skip_invalid`` splits the valid records (refused lines go to
    ``out_dir/rejected.ndjson``); ``wrap`` wraps bare Generate requests with
    ids ``<id_prefix>1, ...``; ``force`` writes into a directory that is not
    empty.

    >>> m = syncbatch.split(["requests.jsonl"], "batches")  # doctest: +SKIP
    >>> [p.name for p in m.files]  # doctest: +SKIP
    ['batch-00001.jsonl', 'batch-00002.jsonl']

    Raises :class:`ValidationError` (with ``diagnostics``) for invalid
    records without ``skip_invalid``, or when no compliant split exists;
    nothing is written then.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out = Path(out_dir)
    figures, diagnostics = _native.split(
        [os.fspath(p) for p in inputs],
        os.fspath(out),
        max_records=max_records,
        min_records=min_records,
        max_bytes=max_bytes,
        skip_invalid=skip_invalid,
        deny_warnings=deny_warnings,
        wrap=wrap,
        id_prefix=id_prefix,
        prefix=prefix,
        force=force,
        sync=sync,
        progress=progress,
    )
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    batches = manifest.get("batches", [])
    return Manifest(
        out_dir=out,
        files=[out / b["file"] for b in batches],
        batches=batches,
        records=figures["records"],
        rejected=figures["rejected"],
        dropped_blank_lines=figures["dropped_blank_lines"],
        warnings=figures["warnings"],
        diagnostics=[Diagnostic._from(d) for d in diagnostics],
    )


def merge(
    requests: Union[PathLike, Sequence[PathLike]],
    results: Union[PathLike, Sequence[PathLike]],
    out: PathLike,
    *,
    summary: Optional[PathLike] = None,
    retry_dir: Optional[PathLike] = None,
    unknown: Optional[PathLike] = None,
    max_records: int = 500,
    min_records: int = 20,
    max_bytes: int = 5_000_000,
    prefix: str = "batch",
    force: bool = False,
    progress: Optional[Progress] = None,
) -> MergeResult:
    """Joins batch result files back to the requests, as ``syncbatch merge``
    does: one merged line per request in request order (``MISSING`` for those
    no result names), the figures as JSON in ``summary``, result lines of
    unknown ids in ``unknown``, and the requests to send again as compliant
    batch files in ``retry_dir``. Every output appears whole or not at all.

    >>> r = syncbatch.merge(["batches/batch-00001.jsonl"], ["output.jsonl"],
    ...                     "merged.jsonl", retry_dir="retry")  # doctest: +SKIP
    >>> r.completed, r.missing, r.retry["kind"]  # doctest: +SKIP
    (18, 1, 'undersized')
    """
    if isinstance(requests, (str, os.PathLike)):
        requests = [requests]
    if isinstance(results, (str, os.PathLike)):
        results = [results]
    opt = lambda p: None if p is None else os.fspath(p)  # noqa: E731
    figures, notes, retry = _native.merge(
        [os.fspath(p) for p in requests],
        [os.fspath(p) for p in results],
        os.fspath(out),
        summary=opt(summary),
        unknown=opt(unknown),
        retry_dir=opt(retry_dir),
        max_records=max_records,
        min_records=min_records,
        max_bytes=max_bytes,
        prefix=prefix,
        force=force,
        progress=progress,
    )
    return MergeResult(notes=notes, retry=retry, **figures)


def run(
    dir: PathLike,
    inputs: Optional[Union[PathLike, Sequence[PathLike]]] = None,
    *,
    max_records: Optional[int] = None,
    min_records: Optional[int] = None,
    max_bytes: Optional[int] = None,
    prefix: Optional[str] = None,
    skip_invalid: Optional[bool] = None,
    deny_warnings: Optional[bool] = None,
    wrap: Optional[bool] = None,
    id_prefix: Optional[str] = None,
    webhook_url: Optional[str] = None,
    max_in_flight: Optional[int] = None,
    retry_rounds: Optional[int] = None,
    strict: Optional[bool] = None,
    adopt: Optional[Dict[str, str]] = None,
    create_anew: Sequence[str] = (),
    api_key: Optional[str] = None,
    base_url: Optional[str] = None,
    rate_limit: int = 60,
    poll_interval: float = 60.0,
    no_wait: bool = False,
    on_event: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> RunResult:
    """Runs a whole campaign, as ``syncbatch run --dir dir`` does: with
    ``inputs``, starts one in ``dir`` (absent or empty): splits them into
    ``dir/batches/``, creates every batch exactly once, waits, downloads,
    merges into ``dir/merged.jsonl`` (and ``summary.json``, ``unknown.jsonl``,
    ``retry/``), and runs ``retry_rounds`` more rounds for what failed.
    Without ``inputs``, resumes the campaign in ``dir`` (after a crash, a
    Ctrl-C, ``no_wait``): just call it again.

    The split options (limits 500 / 20 / 5,000,000 bytes, ``prefix`` "batch",
    ``id_prefix`` "req-" unless given), ``webhook_url``, ``max_in_flight`` and
    ``strict`` are recorded at the start and kept on every resume: given again
    with another value, they raise :class:`UsageError`; ``retry_rounds`` may
    be raised. The key comes from ``api_key`` or ``SYNC_API_KEY``;
    ``on_event(dict)`` is called for each event (created, status,
    downloaded, merged, ...).

    >>> api = syncbatch.FakeApi()  # doctest: +SKIP
    >>> r = syncbatch.run("campaign", ["requests.jsonl"], api_key=api.key,
    ...                   base_url=api.base_url, poll_interval=0.2)  # doctest: +SKIP
    >>> r.finished, r.summary["requests"]  # doctest: +SKIP
    (True, 1234)

    Raises :class:`CampaignError` when the campaign stops and needs you
    (``kind`` ``candidates``: settle with ``adopt={file: batch_id}`` or
    ``create_anew=[file]``), :class:`ValidationError` for invalid inputs
    (nothing sent), :class:`ApiError`, :class:`UsageError`.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    options = dict(
        max_records=max_records,
        min_records=min_records,
        max_bytes=max_bytes,
        prefix=prefix,
        skip_invalid=skip_invalid,
        deny_warnings=deny_warnings,
        wrap=wrap,
        id_prefix=id_prefix,
        webhook_url=webhook_url,
        max_in_flight=max_in_flight,
        strict=strict,
    )
    given = {k: v for k, v in options.items() if v is not None}
    settings = None
    if inputs is not None:
        defaults = dict(
            max_records=500,
            min_records=20,
            max_bytes=5_000_000,
            prefix="batch",
            skip_invalid=False,
            deny_warnings=False,
            wrap=False,
            id_prefix="req-",
            webhook_url=None,
            max_in_flight=None,
            strict=False,
        )
        settings = json.dumps({**defaults, **given, "retry_rounds": retry_rounds or 0})
    outcome = _native.run(
        os.fspath(dir),
        None if inputs is None else [os.fspath(p) for p in inputs],
        settings=settings,
        given=None if inputs is not None else json.dumps(given),
        adopt=list((adopt or {}).items()),
        create_anew=list(create_anew),
        retry_rounds=None if inputs is not None else retry_rounds,
        api_key=api_key,
        base_url=base_url,
        rate_limit=rate_limit,
        poll_interval=poll_interval,
        no_wait=no_wait,
        on_event=on_event,
    )
    return RunResult(**outcome)


def status(
    dir: PathLike,
    *,
    offline: bool = False,
    api_key: Optional[str] = None,
    base_url: Optional[str] = None,
    rate_limit: int = 60,
) -> List[Dict[str, Any]]:
    """One row a batch file of the campaign in ``dir`` (every round), as
    ``syncbatch status --format json`` prints them: ``file``, ``records``,
    ``id``, ``status``, ``success``, ``failed``, ``pending``, ``downloaded``.
    Looks at the API once for the unfinished batches, unless ``offline``
    (then no key is needed).

    >>> [r["status"] for r in syncbatch.status("campaign", offline=True)]  # doctest: +SKIP
    ['COMPLETED', 'COMPLETED', 'COMPLETED']
    """
    looked = _native.status(
        os.fspath(dir), offline=offline, api_key=api_key, base_url=base_url, rate_limit=rate_limit
    )
    return looked["rows"]


class Client:
    """The Sync Batch API, call by call, with the command line's policies:
    requests spaced to ``rate_limit`` a minute, ``429`` and transient failures
    retried, the key sent to the API's origin only, a create that may have made
    a batch never sent again (:class:`ApiError` with ``may_have_created``).
    Answers are plain dicts, as the API spells them.

    >>> c = syncbatch.Client(api_key="sk-...")  # or SYNC_API_KEY  # doctest: +SKIP
    >>> batch = c.create_batch("batches/batch-00001.jsonl")  # doctest: +SKIP
    >>> c.get_batch(batch["id"])["status"]  # doctest: +SKIP
    'PENDING'
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        *,
        base_url: Optional[str] = None,
        rate_limit: int = 60,
    ) -> None:
        self._inner = _native.Client(api_key=api_key, base_url=base_url, rate_limit=rate_limit)

    def create_batch(
        self, path: PathLike, *, dry_run: bool = False, webhook_url: Optional[str] = None
    ) -> Dict[str, Any]:
        """Uploads the batch file at ``path``; returns the Batch (or, with
        ``dry_run``, ``{"status": "VALIDATED"}``)."""
        return self._inner.create_batch(os.fspath(path), dry_run=dry_run, webhook_url=webhook_url)

    def get_batch(self, batch_id: str) -> Dict[str, Any]:
        """The Batch ``batch_id``."""
        return self._inner.get_batch(batch_id)

    def list_batches(
        self,
        *,
        status: Optional[str] = None,
        created_after: Optional[str] = None,
        created_before: Optional[str] = None,
    ) -> List[Dict[str, Any]]:
        """The batches, filtered by status and creation time (ISO 8601)."""
        return self._inner.list_batches(
            status=status, created_after=created_after, created_before=created_before
        )

    def list_models(self) -> List[Dict[str, Any]]:
        """The models the API offers."""
        return self._inner.list_models()

    def download_results(self, batch_id: str, out: PathLike) -> int:
        """Writes the results of the ``COMPLETED`` batch ``batch_id`` to
        ``out`` (aside, renamed once whole; a cut transfer fetched again);
        returns the bytes written."""
        return self._inner.download_results(batch_id, os.fspath(out))


class FakeApi:
    """A fake Sync API on a loopback port, in this process: for tests, and
    for trying :func:`run` without an account. Batches go ``PENDING`` for
    ``pending_ms``, then ``PROCESSING`` for ``processing_ms``, then
    ``COMPLETED``. ``inject(kind)`` plays a fault on the next request it fits
    (``"429"``, ``"500"``, ``"create-then-fail"``, ``"create-then-drop"``,
    ``"cut-download"``, ``"expired-url"``, ``"fail-batch"``).

    >>> api = syncbatch.FakeApi()
    >>> client = syncbatch.Client(api.key, base_url=api.base_url)
    >>> client.list_batches()
    []
    """

    def __init__(self, *, pending_ms: int = 100, processing_ms: int = 300) -> None:
        self._inner = _native.FakeApi(pending_ms=pending_ms, processing_ms=processing_ms)

    @property
    def base_url(self) -> str:
        """Its address, for ``base_url=``."""
        return self._inner.base_url

    @property
    def key(self) -> str:
        """The key it accepts, for ``api_key=``."""
        return self._inner.key

    def creates(self) -> int:
        """Batches it made (dry runs not counted)."""
        return self._inner.creates()

    def inject(self, kind: str) -> None:
        """Plays the fault ``kind`` on the next request it fits."""
        self._inner.inject(kind)
