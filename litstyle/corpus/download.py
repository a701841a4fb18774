"""Polite, bounded, cached downloads of Gutenberg texts (or reads from a local mirror folder).

Status errors (5xx, 429) and connection errors are retried by urllib3's ``Retry`` with
exponential backoff; a body that breaks off, stalls past the read timeout or is shorter than its
Content-Length is retried here, a bounded number of times.  Files are streamed to a temporary
name and renamed, so the cache never holds a partial book.  A book that still fails is reported,
not raised: the other books go on.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter
from tqdm.auto import tqdm
from urllib3.util.retry import Retry

from litstyle import __version__

log = logging.getLogger(__name__)

RETRY_STATUS = (429, 500, 502, 503, 504)


class DownloadError(RuntimeError):
    pass


@dataclass(frozen=True)
class DownloadPolicy:
    timeout_s: float = 30.0
    retries: int = 4
    backoff_s: float = 0.5
    workers: int = 2


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def book_url(base: str, book_id: int) -> str:
    """The real Gutenberg path pattern: ``{base}/cache/epub/{id}/pg{id}.txt``."""
    return f"{base.rstrip('/')}/cache/epub/{book_id}/pg{book_id}.txt"


def make_session(policy: DownloadPolicy) -> requests.Session:
    retry = Retry(total=policy.retries, connect=policy.retries, read=policy.retries, status=policy.retries,
                  backoff_factor=policy.backoff_s, status_forcelist=RETRY_STATUS, allowed_methods=["GET"],
                  raise_on_status=False, respect_retry_after_header=True)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=max(policy.workers, 2))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = f"litstyle/{__version__} (research corpus builder)"
    return session


def fetch(session: requests.Session, url: str, dest: Path, policy: DownloadPolicy) -> Path:
    """Download ``url`` to ``dest`` atomically. Raises DownloadError after bounded retries."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    timeout = (policy.timeout_s, policy.timeout_s)
    last: Exception | None = None
    for attempt in range(policy.retries + 1):
        if attempt:
            time.sleep(policy.backoff_s * 2 ** (attempt - 1))
        try:
            response = session.get(url, stream=True, timeout=timeout)
        except requests.RequestException as exc:  # urllib3 already retried connect/status errors
            raise DownloadError(f"{url}: {type(exc).__name__}: {_short(exc)}") from None
        with response:
            if response.status_code >= 400:
                raise DownloadError(f"{url}: HTTP {response.status_code}")
            fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
            tmp = Path(tmp_name)
            try:
                size = 0
                with os.fdopen(fd, "wb") as handle:
                    for block in response.iter_content(1 << 16):
                        handle.write(block)
                        size += len(block)
                expected = response.headers.get("Content-Length")
                if expected is not None and "Content-Encoding" not in response.headers and size != int(expected):
                    raise DownloadError(f"body has {size} of {expected} bytes")
                if size == 0:
                    raise DownloadError("empty body")
                os.replace(tmp, dest)
                return dest
            except (requests.RequestException, DownloadError) as exc:
                last = exc
                log.warning("%s: attempt %d/%d failed: %s", url, attempt + 1, policy.retries + 1, _short(exc))
            finally:
                tmp.unlink(missing_ok=True)
    raise DownloadError(f"{url}: gave up after {policy.retries + 1} attempts: {_short(last)}")


def _short(exc: object) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def fetch_books(ids: list[int], mirror: str, cache_dir: Path, policy: DownloadPolicy,
                ) -> tuple[dict[int, Path], dict[int, str]]:
    """Fetch every book; returns (paths by id, errors by id).  Cached books are not fetched again;
    a local-folder mirror is read in place."""
    found: dict[int, Path] = {}
    failed: dict[int, str] = {}
    todo = []
    for book_id in ids:
        if not is_url(mirror):
            path = Path(mirror).expanduser() / f"{book_id}.txt"
            if path.is_file():
                found[book_id] = path
            else:
                failed[book_id] = f"not in mirror folder: {path}"
        elif (cache_dir / f"{book_id}.txt").is_file():
            found[book_id] = cache_dir / f"{book_id}.txt"
        else:
            todo.append(book_id)
    if todo:
        session = make_session(policy)
        with ThreadPoolExecutor(max_workers=policy.workers) as pool:
            futures = {pool.submit(fetch, session, book_url(mirror, i), cache_dir / f"{i}.txt", policy): i
                       for i in todo}
            for future in tqdm(as_completed(futures), total=len(futures), desc="download", unit="book"):
                book_id = futures[future]
                try:
                    found[book_id] = future.result()
                except DownloadError as exc:
                    failed[book_id] = str(exc)
                    log.error("book %d failed: %s", book_id, exc)
    return found, failed


def fetch_text(location: str, cache_dir: Path, policy: DownloadPolicy) -> Path:
    """A single file (the catalog) from a path or URL, cached under its file name."""
    if not is_url(location):
        return Path(location).expanduser()
    dest = cache_dir / location.rstrip("/").rsplit("/", 1)[-1]
    if dest.is_file():
        return dest
    return fetch(make_session(policy), location, dest, policy)
