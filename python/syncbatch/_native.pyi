"""Type stubs of the compiled module: the bindings `syncbatch` wraps."""

from typing import Any, Callable, Dict, List, Optional, Tuple

__version__: str

Progress = Optional[Callable[[str, int, int], None]]

def validate(
    path: Optional[str] = None,
    data: Optional[bytes] = None,
    name: Optional[str] = None,
    *,
    max_records: int = 500,
    min_records: int = 20,
    max_bytes: int = 5_000_000,
    deny_warnings: bool = False,
    progress: Progress = None,
) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]: ...
def split(
    inputs: List[str],
    out_dir: str,
    *,
    max_records: int = 500,
    min_records: int = 20,
    max_bytes: int = 5_000_000,
    skip_invalid: bool = False,
    deny_warnings: bool = False,
    wrap: bool = False,
    id_prefix: str = "req-",
    prefix: str = "batch",
    force: bool = False,
    sync: bool = False,
    progress: Progress = None,
) -> Tuple[Dict[str, int], List[Dict[str, Any]]]: ...
def merge(
    requests: List[str],
    results: List[str],
    out: str,
    *,
    summary: Optional[str] = None,
    unknown: Optional[str] = None,
    retry_dir: Optional[str] = None,
    max_records: int = 500,
    min_records: int = 20,
    max_bytes: int = 5_000_000,
    prefix: str = "batch",
    force: bool = False,
    progress: Progress = None,
) -> Tuple[Dict[str, int], List[Dict[str, Any]], Optional[Dict[str, Any]]]: ...
def main(argv: List[str]) -> int: ...
def run(
    dir: str,
    inputs: Optional[List[str]] = None,
    *,
    settings: Optional[str] = None,
    given: Optional[str] = None,
    adopt: List[Tuple[str, str]] = ...,
    create_anew: List[str] = ...,
    retry_rounds: Optional[int] = None,
    api_key: Optional[str] = None,
    base_url: Optional[str] = None,
    rate_limit: int = 60,
    poll_interval: float = 60.0,
    no_wait: bool = False,
    on_event: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> Dict[str, Any]: ...
def status(
    dir: str,
    *,
    offline: bool = False,
    api_key: Optional[str] = None,
    base_url: Optional[str] = None,
    rate_limit: int = 60,
) -> Dict[str, Any]: ...

class Client:
    def __init__(
        self, api_key: Optional[str] = None, base_url: Optional[str] = None, rate_limit: int = 60
    ) -> None: ...
    def create_batch(
        self, path: str, *, dry_run: bool = False, webhook_url: Optional[str] = None
    ) -> Dict[str, Any]: ...
    def get_batch(self, id: str) -> Dict[str, Any]: ...
    def list_batches(
        self,
        *,
        status: Optional[str] = None,
        created_after: Optional[str] = None,
        created_before: Optional[str] = None,
    ) -> List[Dict[str, Any]]: ...
    def list_models(self) -> List[Dict[str, Any]]: ...
    def download_results(self, id: str, out: str) -> int: ...

class FakeApi:
    def __init__(self, *, pending_ms: int = 100, processing_ms: int = 300) -> None: ...
    @property
    def base_url(self) -> str: ...
    @property
    def key(self) -> str: ...
    def creates(self) -> int: ...
    def inject(self, kind: str) -> None: ...
