"""HTTP channel (contract 1b): pull one extract of one city for one business date.

``GET {base_url}/api/v1/extracts/{kind}?date=YYYY-MM-DD&page=N&page_size=M``
with a bearer token. 404 means "not ready yet" (``NotReady``: the caller waits
without a busy loop and asks again later); 401/403 fail at once
(``CredentialsRefused``: retrying cannot help); 429 waits ``Retry-After``; 5xx
and connection errors retry with exponential backoff, a bounded number of times.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests


class HttpSourceError(RuntimeError):
    """The city platform did not deliver after the retries allowed."""


class NotReady(HttpSourceError):
    """404: the extract for that date is not ready yet."""


class CredentialsRefused(HttpSourceError):
    """401/403: the token was refused; do not retry."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    backoff_base: float = 1.0  # seconds; doubled per attempt, with jitter
    backoff_max: float = 60.0
    retry_after_max: float = 300.0


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def fetch_extract(
    base_url: str,
    kind: str,
    business_date: dt.date,
    token: str,
    *,
    city_code: str | None = None,
    page_size: int = 5000,
    policy: RetryPolicy = RetryPolicy(),
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = lambda message: None,
) -> list[dict[str, Any]]:
    """Every record of the extract, all pages, in order."""
    http = session or requests.Session()
    url = f"{base_url.rstrip('/')}/api/v1/extracts/{kind}"
    records: list[dict[str, Any]] = []
    page = 1
    while True:
        body = _get_page(http, url, kind, business_date, page, page_size, token, policy, sleep, log)
        for key, expected in (("kind", kind), ("date", business_date.isoformat()), ("page", page)):
            if body.get(key) != expected:
                raise HttpSourceError(f"{url} page {page}: field {key} is {body.get(key)!r}, expected {expected!r}")
        if city_code and body.get("city_code") != city_code:
            raise HttpSourceError(f"{url}: city_code {body.get('city_code')!r}, expected {city_code}")
        page_records = body.get("records")
        if not isinstance(page_records, list) or not all(isinstance(r, dict) for r in page_records):
            raise HttpSourceError(f"{url} page {page}: records is not a list of objects")
        records.extend(page_records)
        total = body.get("total_pages")
        if not isinstance(total, int) or total < 0:
            raise HttpSourceError(f"{url} page {page}: total_pages is {total!r}")
        if page >= total:
            return records
        page += 1


def _get_page(
    http: requests.Session,
    url: str,
    kind: str,
    business_date: dt.date,
    page: int,
    page_size: int,
    token: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    log: Callable[[str], None],
) -> dict[str, Any]:
    params: dict[str, str | int] = {"date": business_date.isoformat(), "page": page, "page_size": page_size}
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    last = ""
    for attempt in range(policy.attempts):
        try:
            resp = http.get(url, params=params, headers=headers, timeout=60)
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}: {exc}"
            wait = _backoff(policy, attempt)
            log(f"{url} page {page}: {last}; retrying in {wait:.1f}s")
            sleep(wait)
            continue
        code = resp.status_code
        if code == 200:
            try:
                body: dict[str, Any] = resp.json()
            except json.JSONDecodeError as exc:
                raise HttpSourceError(f"{url} page {page}: response is not JSON: {exc}") from exc
            return body
        if code == 404:
            raise NotReady(f"{url}?date={business_date}: not ready yet (404)")
        if code in (401, 403):
            raise CredentialsRefused(
                f"{url}: credentials refused (HTTP {code}); check the token in the city's Airflow connection"
            )
        if code == 429:
            wait = min(
                retry_after_seconds(resp.headers.get("Retry-After")) or _backoff(policy, attempt),
                policy.retry_after_max,
            )
            last = "HTTP 429 rate limited"
            log(f"{url} page {page}: rate limited; waiting {wait:.1f}s (Retry-After)")
            sleep(wait)
            continue
        if 500 <= code < 600:
            last = f"HTTP {code}"
            wait = _backoff(policy, attempt)
            log(f"{url} page {page}: HTTP {code}; retrying in {wait:.1f}s")
            sleep(wait)
            continue
        raise HttpSourceError(f"{url} page {page}: unexpected HTTP {code}: {resp.text[:200]}")
    raise HttpSourceError(f"{url} page {page}: gave up after {policy.attempts} attempts (last: {last})")


def _backoff(policy: RetryPolicy, attempt: int) -> float:
    jitter = random.uniform(0, policy.backoff_base)  # noqa: S311 - jitter, not security
    return float(min(policy.backoff_max, policy.backoff_base * 2**attempt + jitter))


def records_to_jsonl(records: list[dict[str, Any]]) -> bytes:
    """The payload stored for an HTTP delivery: one record per line, as received."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8") or b"\n"
