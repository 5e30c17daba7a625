"""What the GitHub SCM and tracker share: one PyGithub client per (base URL, token),
an ETag cache, and rate-limit bookkeeping that never blocks the engine.

* ``github`` is imported lazily (it is slow to import).
* The token comes from ``GITHUB_TOKEN`` (or ``GH_TOKEN``) in the environment,
  only; it is handed to PyGithub and never logged, stored or put in a message.
* Reads go through ``GitHubClient.get`` / ``get_pages``: conditional GETs made
  with PyGithub's ``Requester.requestJsonAndCheck`` and ``If-None-Match``. A
  ``304 Not Modified`` costs nothing against the rate limit (GitHub's rule) and
  answers from the cache, so polling unchanged PRs is free.
* PyGithub's own retrying is replaced: its default ``GithubRetry`` sleeps until
  the rate limit resets (up to an hour). Here urllib3 retries only failed
  connections (twice, briefly), there is no pause between requests, and a
  403/429 with ``X-RateLimit-Remaining: 0`` or ``Retry-After`` records when the
  budget comes back and raises ``RateLimited`` ("GitHub rate limit: resets at
  HH:MM"). Until then every call raises ``RateLimited`` at once without a
  request, so callers skip the work and try again on a later poll.
* The ETag cache is kept in ``<ao_home>/github/cache-<host key>.json`` (written
  atomically at most once a minute and at exit; it holds API answers and ETags,
  never the token), so a restarted engine's first look at 50 unchanged PRs is
  answered by 304s too instead of spending 250 requests.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import Field

from ao_tui.config import write_atomic
from ao_tui.errors import AoError, NotFound
from ao_tui.slots.base import PluginOptions, Seconds

if TYPE_CHECKING:
    from github import Github
    from github.Repository import Repository

log = logging.getLogger("ao.github")

DEFAULT_BASE_URL = "https://api.github.com"
TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN")
#: A secondary rate limit without ``Retry-After``: GitHub asks for "a few minutes".
SECONDARY_BACKOFF = 60.0
MAX_LOG_BYTES = 2 << 20
CACHE_VERSION = 1
#: At most one write of the cache file per this many seconds (and one at exit).
SAVE_INTERVAL = 60.0

T = TypeVar("T")


class RateLimited(AoError):
    """GitHub's rate limit is spent; nothing is sent to GitHub before ``reset_at`` (epoch seconds)."""

    def __init__(self, reset_at: float) -> None:
        self.reset_at = reset_at
        super().__init__(f"GitHub rate limit: resets at {datetime.fromtimestamp(reset_at).strftime('%H:%M')}")


class GitHubError(AoError):
    """GitHub refused a request; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def token_from_env(env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    for name in TOKEN_VARIABLES:
        if env.get(name, "").strip():
            return env[name].strip()
    return None


@dataclass
class Cached:
    etag: str
    data: Any
    link: str


@dataclass
class Page:
    """A GET answer: ``data``, and whether it differs from the cached copy."""

    data: Any
    changed: bool
    link: str = ""


class GitHubClient:
    """PyGithub plus an ETag cache and a rate-limit gate; safe to share between threads."""

    def __init__(self, base_url: str | None, token: str, *, timeout: float = 10.0,
                 seconds_between_writes: float | None = 1.0, cache_size: int = 4096,
                 clock: Callable[[], float] = time.time, cache_file: Path | None = None,
                 token_name: str = "GITHUB_TOKEN") -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        parsed = urllib.parse.urlparse(self.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise AoError(f"GitHub base_url {self.base_url!r} is not an http(s) URL "
                          "(GitHub Enterprise: https://HOST/api/v3)")
        self._token = token
        #: The variable the token came from, for messages (never the token itself).
        self.token_name = token_name
        self.timeout = timeout
        self.seconds_between_writes = seconds_between_writes
        self.cache_size = cache_size
        self.clock = clock
        self._cache: OrderedDict[str, Cached] = OrderedDict()
        self._lock = threading.Lock()
        self._gh: Github | None = None
        self.blocked_until = 0.0
        #: Requests sent, and how many were answered 304 from the cache.
        self.sent = 0
        self.not_modified = 0
        self.remaining: int | None = None
        self.cache_file = cache_file
        self._dirty = False
        self._saved_at = float("-inf")
        if cache_file is not None:
            self._load()
            atexit.register(self.save)

    def __repr__(self) -> str:  # never the token
        return f"GitHubClient({self.base_url!r})"

    # -- PyGithub ------------------------------------------------------------------

    @property
    def gh(self) -> Github:
        if self._gh is None:
            import github
            from urllib3.util import Retry

            self._gh = github.Github(
                base_url=self.base_url,
                auth=github.Auth.Token(self._token),
                timeout=int(max(1, self.timeout)),
                per_page=100,
                # connection failures only: never on a status, never sleeping until a reset
                retry=Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.2,
                            respect_retry_after_header=False, raise_on_status=False),
                seconds_between_requests=None,
                seconds_between_writes=self.seconds_between_writes or None,
                lazy=True,  # objects are built without a GET; only the calls made cost requests
            )
        return self._gh

    def repo(self, full_name: str) -> Repository:
        """A lazy PyGithub ``Repository`` (no request until a method needs one)."""
        return self.gh.get_repo(full_name)

    # -- the rate-limit gate -----------------------------------------------------------

    def check_budget(self) -> None:
        """Raise ``RateLimited`` while the budget is known to be spent."""
        if self.clock() < self.blocked_until:
            raise RateLimited(self.blocked_until)

    def rate_limit_message(self) -> str | None:
        """"GitHub rate limit: resets at HH:MM" while blocked, else None (for a status line)."""
        if self.clock() < self.blocked_until:
            return str(RateLimited(self.blocked_until))
        return None

    def _note_headers(self, headers: Mapping[str, Any]) -> None:
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is None:
            return
        try:
            self.remaining = int(float(remaining))
            if self.remaining <= 0 and headers.get("x-ratelimit-reset"):
                self.blocked_until = max(self.blocked_until, float(headers["x-ratelimit-reset"]))
        except ValueError:
            pass

    def translate(self, exc: BaseException, what: str = "") -> AoError:
        """A PyGithub / requests exception as the one-line ``AoError`` a user can act on."""
        from github import GithubException

        where = f" ({what})" if what else ""
        if isinstance(exc, GithubException):
            headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
            data = exc.data if isinstance(exc.data, dict) else {}
            message = str(data.get("message") or exc.message or "").strip()
            if exc.status in (403, 429):
                retry_after = headers.get("retry-after")
                spent = headers.get("x-ratelimit-remaining") == "0"
                if spent or retry_after or "rate limit" in message.lower():
                    now = self.clock()
                    if retry_after:
                        reset = now + float(retry_after)
                    elif spent and headers.get("x-ratelimit-reset"):
                        reset = float(headers["x-ratelimit-reset"])
                    else:
                        reset = now + SECONDARY_BACKOFF
                    self.blocked_until = max(self.blocked_until, reset, now + 1)
                    log.warning("GitHub rate limit hit%s; pausing GitHub calls until %s", where,
                                datetime.fromtimestamp(self.blocked_until).strftime("%H:%M:%S"))
                    return RateLimited(self.blocked_until)
            if exc.status == 401:
                return GitHubError(f"GitHub rejected the token{where}: check {self.token_name}", 401)
            if exc.status == 404:
                return NotFound(f"GitHub: not found{where}")
            details = []
            for err in data.get("errors") or []:
                if isinstance(err, dict):
                    details.append(str(err.get("message") or f"{err.get('field', '')} {err.get('code', '')}".strip()))
                else:
                    details.append(str(err))
            text = message + (f": {'; '.join(d for d in details if d)}" if any(details) else "")
            return GitHubError(f"GitHub {exc.status}{where}: {text or 'request failed'}", exc.status)
        if isinstance(exc, AoError):
            return exc
        return GitHubError(f"GitHub unreachable at {self.base_url}{where}: {type(exc).__name__}")

    def call(self, fn: Callable[[], T], what: str = "") -> T:
        """Run one PyGithub operation behind the gate, translating its failures."""
        import requests
        from github import GithubException

        self.check_budget()
        self.sent += 1
        try:
            result = fn()
        except (GithubException, requests.RequestException, OSError) as exc:
            raise self.translate(exc, what) from None
        remaining, _limit = self.gh.requester.rate_limiting
        if remaining == 0 and self.gh.requester.rate_limiting_resettime:
            self.blocked_until = max(self.blocked_until, float(self.gh.requester.rate_limiting_resettime))
        return result

    # -- conditional reads ---------------------------------------------------------------

    @staticmethod
    def _key(path: str, params: Mapping[str, Any] | None) -> str:
        if not params:
            return path
        return f"{path}?{urllib.parse.urlencode(sorted((k, str(v)) for k, v in params.items()))}"

    def get(self, path: str, params: Mapping[str, Any] | None = None, what: str = "") -> Page:
        """``GET path`` with ``If-None-Match`` when a copy is cached; 304 answers from the cache.

        ``path`` is relative to the API root (``/repos/o/r/pulls``) or a full URL
        the API returned (a ``Link`` next page)."""
        import requests
        from github import GithubException

        self.check_budget()
        key = self._key(path, params)
        with self._lock:
            cached = self._cache.get(key)
        headers = {"If-None-Match": cached.etag} if cached else {}
        self.sent += 1
        try:
            response_headers, data = self.gh.requester.requestJsonAndCheck(
                "GET", path, parameters=dict(params) if params else None, headers=headers)
        except (GithubException, requests.RequestException, OSError) as exc:
            raise self.translate(exc, what or path) from None
        self._note_headers(response_headers)
        if data is None and cached is not None:  # 304 Not Modified
            self.not_modified += 1
            with self._lock:
                self._cache.move_to_end(key)
            return Page(cached.data, changed=False, link=cached.link)
        link = response_headers.get("link", "")
        etag = response_headers.get("etag")
        if etag:
            with self._lock:
                self._cache[key] = Cached(etag, data, link)
                self._cache.move_to_end(key)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
                self._dirty = True
            if self.cache_file is not None and time.monotonic() - self._saved_at >= SAVE_INTERVAL:
                self.save()
        return Page(data, changed=True, link=link)

    def get_pages(self, path: str, params: Mapping[str, Any] | None = None, item_key: str | None = None,
                  what: str = "", max_pages: int = 20) -> Page:
        """Every page of a list (``item_key`` when the list is inside an object, as for check runs).

        Each page is its own conditional GET; ``changed`` is True when any page changed."""
        params = {"per_page": 100, **(params or {})}
        page = self.get(path, params, what)
        items = list(page.data[item_key] if item_key else page.data)
        changed = page.changed
        pages = 1
        while pages < max_pages and (next_url := _next_link(page.link)):
            page = self.get(next_url, None, what)
            items.extend(page.data[item_key] if item_key else page.data)
            changed = changed or page.changed
            pages += 1
        return Page(items, changed)

    def get_text(self, path: str, what: str = "") -> str:
        """A plain-text download, its last 2 MB (Actions job logs: GitHub answers with a 302
        to a short-lived signed URL on blob storage, fetched without the token)."""
        import requests
        from github import GithubException

        self.check_budget()
        self.sent += 1
        try:
            headers, data = self.gh.requester.requestJsonAndCheck("GET", path)
        except (GithubException, requests.RequestException, OSError) as exc:
            error = self.translate(exc, what or path)
            if isinstance(error, GitHubError) and error.status == 410:
                raise NotFound(f"GitHub: the log has expired ({what or path})") from None
            raise error from None
        self._note_headers(headers)
        location = headers.get("location")
        if not location:  # answered in place
            return str(data.get("data", "") if isinstance(data, dict) else data or "")
        try:
            with requests.get(location, timeout=self.timeout, stream=True) as response:
                response.raise_for_status()
                tail = b""
                for chunk in response.iter_content(chunk_size=1 << 16):
                    tail = (tail + chunk)[-MAX_LOG_BYTES:]
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            raise NotFound(f"GitHub: no log ({what or path}: {status})") from None
        except (requests.RequestException, OSError) as exc:
            raise GitHubError(f"GitHub log download failed ({what or path}): {type(exc).__name__}") from None
        return tail.decode("utf-8", errors="replace")

    # -- the cache on disk -------------------------------------------------------------------

    def _load(self) -> None:
        assert self.cache_file is not None
        try:
            saved = json.loads(self.cache_file.read_text(encoding="utf-8"))
            if saved.get("version") != CACHE_VERSION or saved.get("base_url") != self.base_url:
                return
            for key, etag, data, link in saved["entries"][-self.cache_size:]:
                self._cache[key] = Cached(etag, data, link)
        except (OSError, ValueError, KeyError, TypeError):
            self._cache.clear()  # a missing or damaged cache only costs full answers

    def save(self) -> None:
        """Write the cache file now if anything changed (best effort: a failure only costs requests)."""
        if self.cache_file is None or not self.cache_file.parent.parent.is_dir():
            return  # ao_home is gone (a finished test): nothing to keep
        with self._lock:
            if not self._dirty:
                return
            entries = [[k, c.etag, c.data, c.link] for k, c in self._cache.items()]
            self._dirty = False
            self._saved_at = time.monotonic()
        try:
            write_atomic(self.cache_file, json.dumps({"version": CACHE_VERSION, "base_url": self.base_url,
                                                      "entries": entries}, separators=(",", ":")))
        except OSError as exc:
            log.warning("could not save the GitHub cache %s: %s", self.cache_file, exc.strerror)

    def forget(self, prefix: str) -> None:
        """Drop cached answers under ``prefix`` (after a write through another path)."""
        with self._lock:
            for key in [k for k in self._cache if k.startswith(prefix)]:
                del self._cache[key]


def _next_link(link: str) -> str | None:
    for part in link.split(","):
        section = part.split(";")
        if len(section) >= 2 and 'rel="next"' in section[1]:
            return section[0].strip().strip("<>")
    return None


class GitHubOptions(PluginOptions):
    """What the GitHub SCM and tracker share: where GitHub is and how hard to press it."""

    repo: str | None = Field(default=None, description="owner/name (default: read from the origin remote).")
    base_url: str | None = Field(default=None, description="The API root for GitHub Enterprise, "
                                                          "e.g. https://github.example.com/api/v3.")
    timeout: Seconds = Field(default=10.0, description="Time one request may take.")
    seconds_between_writes: float | None = Field(
        default=1.0, ge=0, description="Pause between two writes (GitHub's secondary rate limit).")


_clients: dict[tuple[str, str, str], GitHubClient] = {}
_clients_lock = threading.Lock()


def shared_client(options: GitHubOptions, ao_home: Path | None = None, *, token: str | None = None,
                  token_name: str = "GITHUB_TOKEN") -> GitHubClient:
    """The process-wide client for ``options.base_url`` and the environment's token
    (its ETag cache kept under ``ao_home/github`` when given).

    The SCM and the tracker of a project share it, and so share the cache and the
    rate-limit gate (GitHub counts them against the same budget). ``token`` (read
    by the caller from the variable ``token_name``) gives another user's client,
    such as the SCM's reviewer; pass no ``ao_home`` for one that only writes."""
    if token is None:
        token = token_from_env()
    if token is None:
        raise AoError("GitHub needs a token: set GITHUB_TOKEN (or GH_TOKEN) in the environment")
    base_url = (options.base_url or DEFAULT_BASE_URL).rstrip("/")
    key = (base_url, hashlib.sha256(token.encode()).hexdigest(), str(ao_home))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            writes = options.seconds_between_writes
            cache_file = None
            if ao_home is not None:
                host_key = hashlib.sha1(base_url.encode()).hexdigest()[:12]
                cache_file = Path(ao_home) / "github" / f"cache-{host_key}.json"
            client = GitHubClient(base_url, token, timeout=options.timeout,
                                  seconds_between_writes=float(writes) if writes is not None else None,
                                  cache_file=cache_file, token_name=token_name)
            _clients[key] = client
        return client
