"""The real HTTP client against a real simulated city platform on loopback."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from oversight.db.connection import connect
from oversight.devkit.city_server import CityPlatform, CityServer, Fault, parse_fault
from oversight.ingest import tasks as pipeline
from oversight.ingest.http_source import CredentialsRefused, HttpSourceError, NotReady, RetryPolicy, fetch_extract

D = dt.date(2026, 11, 2)
TOKEN = "s3cret-token"
HEADER = "complaint_id,city_code,received_channel,scope,category,received_at,status,updated_at"


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "610400" / "complaints"
    folder.mkdir(parents=True)
    rows = [f"C{i},610400,platform,out_of_school,fees,2026-11-02 08:00:00,open,2026-11-02 09:00:00" for i in range(25)]
    target = folder / "610400_complaints_20261102.csv"
    target.write_text("\n".join([HEADER, *rows]) + "\n")
    target.with_name(target.name + ".ok").write_text("")
    return tmp_path


@pytest.fixture
def platform(landing: Path) -> Iterator[tuple[CityServer, CityPlatform]]:
    city = CityPlatform(landing=landing, city_code="610400", token=TOKEN)
    server = CityServer([city]).start()
    try:
        yield server, city
    finally:
        server.stop()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_pages_through_every_record(platform: tuple[CityServer, CityPlatform]) -> None:
    server, city = platform
    records = fetch_extract(server.base_url("610400"), "complaints", D, TOKEN, city_code="610400", page_size=10)
    assert [r["complaint_id"] for r in records] == [f"C{i}" for i in range(25)]
    assert [r["page"] for r in city.requests_seen] == ["1", "2", "3"]


def test_404_then_ready(platform: tuple[CityServer, CityPlatform], fresh_warehouse: str) -> None:
    server, city = platform
    city.faults.append(Fault(kind="complaints", status=404, times=1))
    item = {
        "city_code": "610400",
        "kind": "complaints",
        "business_date": D.isoformat(),
        "deadline": "09:00",
        "base_url": server.base_url("610400"),
    }
    early = dt.datetime(2026, 11, 3, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert pipeline.poke_http(item, TOKEN, wait=True, now=early) is None  # not ready: the sensor reschedules
    result = pipeline.poke_http(item, TOKEN, wait=True, now=early)
    assert result is not None and result["status"] == "published" and result["rows_published"] == 25
    with connect() as conn:
        channel = conn.execute("select channel, original_name from landing.deliveries").fetchone()
    assert channel == ("http", "610400_complaints_20261102.jsonl")


def test_429_honours_retry_after(platform: tuple[CityServer, CityPlatform]) -> None:
    server, city = platform
    city.faults.append(Fault(kind="complaints", status=429, times=1, retry_after=7))
    sleeps = Sleeps()
    records = fetch_extract(server.base_url("610400"), "complaints", D, TOKEN, sleep=sleeps)
    assert len(records) == 25
    assert sleeps == [7.0]


def test_500_twice_then_200_retries_with_backoff(platform: tuple[CityServer, CityPlatform]) -> None:
    server, city = platform
    city.faults.append(parse_fault("status=500,times=2,kind=complaints"))
    sleeps = Sleeps()
    records = fetch_extract(
        server.base_url("610400"), "complaints", D, TOKEN, sleep=sleeps, policy=RetryPolicy(backoff_base=1.0)
    )
    assert len(records) == 25
    assert len(sleeps) == 2 and 1.0 <= sleeps[0] < 2.0 and 2.0 <= sleeps[1] < 3.0  # exponential, with jitter


def test_5xx_gives_up_after_the_policy(platform: tuple[CityServer, CityPlatform]) -> None:
    server, city = platform
    city.faults.append(Fault(kind="complaints", status=503, times=10))
    with pytest.raises(HttpSourceError, match="gave up after 3 attempts"):
        fetch_extract(server.base_url("610400"), "complaints", D, TOKEN, sleep=Sleeps(), policy=RetryPolicy(attempts=3))


def test_401_fails_fast_without_retry(platform: tuple[CityServer, CityPlatform]) -> None:
    server, city = platform
    sleeps = Sleeps()
    with pytest.raises(CredentialsRefused, match="credentials refused"):
        fetch_extract(server.base_url("610400"), "complaints", D, "wrong-token", sleep=sleeps)
    assert sleeps == [] and len(city.requests_seen) == 1


def test_missing_extract_is_not_ready(platform: tuple[CityServer, CityPlatform]) -> None:
    server, _city = platform
    with pytest.raises(NotReady):
        fetch_extract(server.base_url("610400"), "refunds", D, TOKEN)


def test_an_extract_missing_at_the_deadline_is_fetched_by_a_later_sweep(
    platform: tuple[CityServer, CityPlatform], fresh_warehouse: str
) -> None:
    server, city = platform
    item = {
        "city_code": "610400",
        "kind": "complaints",
        "business_date": D.isoformat(),
        "deadline": "09:00",
        "channel": "http",
        "conn_id": "city_610400",
        "base_url": server.base_url("610400"),
    }
    late = dt.datetime(2026, 11, 3, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    city.faults.append(Fault(kind="complaints", status=404, times=1))
    assert pipeline.poke_http(item, TOKEN, wait=True, now=late)["status"] == "missing"  # type: ignore[index]
    # the city publishes it afterwards: the next days' sweeps ask again, and load it once
    tokens: list[str] = []

    def token_for(conn_id: str) -> str:
        tokens.append(conn_id)
        return TOKEN

    # the DAG hands the sweep its city work items (kinds inside), as planned
    city_item = {k: v for k, v in item.items() if k != "kind"}
    today = {**city_item, "kinds": ["complaints"], "business_date": (D + dt.timedelta(days=1)).isoformat()}
    swept = pipeline.sweep_http([today], D + dt.timedelta(days=1), token_for)
    assert [(r["business_date"], r["status"], r["rows_published"]) for r in swept] == [(D.isoformat(), "published", 25)]
    assert set(tokens) == {"city_610400"}
    assert pipeline.sweep_http([today], D + dt.timedelta(days=2), token_for) == []  # delivered: not asked again
    with connect() as conn:
        assert conn.execute("select count(*) from landing.deliveries").fetchone() == (1,)
