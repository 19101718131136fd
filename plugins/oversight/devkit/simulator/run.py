"""The simulator: build a province's simulation, write its deliveries and its manifest."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from oversight.contract.spec import SPECS
from oversight.devkit.simulator.activity import build_complaints, build_ledger, build_refunds
from oversight.devkit.simulator.breaches import file_level_plans, plant_bad_rows, plant_breaches, spoil
from oversight.devkit.simulator.formats import (
    arrival,
    delivery_format,
    delivery_path,
    ok_marker,
    render,
    write_delivery,
)
from oversight.devkit.simulator.registry import build_registry, snapshot
from oversight.devkit.simulator.state import SimState, Simulation


class Simulator(SimState):
    """A province's simulation over ``start`` to ``end``: build it, then write its deliveries."""

    def build(self) -> Simulation:
        build_registry(self)
        plant_breaches(self)
        build_ledger(self)
        build_refunds(self)
        build_complaints(self)
        plant_bad_rows(self)
        return self.sim

    def write(self, out: Path) -> dict[str, Any]:
        """Build the simulation, write every unit's deliveries under ``out``, then the manifest."""
        self.build()
        out.mkdir(parents=True, exist_ok=True)
        plans = file_level_plans(self)
        delivered: list[dict[str, Any]] = []
        for idx, unit in enumerate(self.units):
            city = unit.city_code
            fmt = delivery_format(city, idx)
            for day in self.days:
                for kind in SPECS:
                    if self.missing_delivery and (city, kind, day) == self.missing_delivery:
                        continue
                    delivered.append(self.deliver(out, idx, city, kind, day, fmt, plans.get((city, kind, day))))
        manifest = self.manifest(delivered)
        meta = out / "_simulation"
        meta.mkdir(exist_ok=True)
        (meta / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        return manifest

    def delivery_rows(self, city: str, kind: str, day: dt.date) -> list[dict[str, Any]]:
        """The rows of one delivery: the registry snapshot (with its bad rows), or the day's rows."""
        if kind != "institutions":
            return self.sim.rows.get((city, kind, day), [])
        rows = snapshot(self, city, day)
        rows += [r for r in self.sim.rows.get((city, kind, day), []) if "_bad" in r]
        return rows

    def deliver(
        self,
        out: Path,
        idx: int,
        city: str,
        kind: str,
        day: dt.date,
        fmt: tuple[str, str | None, str],
        case: tuple[str, str] | None,
    ) -> dict[str, Any]:
        """Write one delivery (spoiled as ``case`` says, if given); returns its manifest entry."""
        rows = self.delivery_rows(city, kind, day)
        data = render(city, kind, rows, fmt)
        digest: str | None = None
        if case:
            data, digest = spoil(data, case[0], kind, fmt)
            self.bad_data.append(
                {
                    "case": case[0],
                    "city_code": city,
                    "kind": kind,
                    "business_date": day.isoformat(),
                    "outcome": "rejected",
                    "reason_code": case[1],
                }
            )
        late = self.late_delivery is not None and (city, kind, day) == self.late_delivery
        write_delivery(
            delivery_path(out, city, kind, day, fmt), data, ok_marker(data, idx, digest), arrival(day, idx, late)
        )
        return {
            "city_code": city,
            "kind": kind,
            "business_date": day.isoformat(),
            "format": fmt[0],
            "encoding": fmt[1],
            "rows": len(rows),
            "bad_rows": sum(1 for r in rows if "_bad" in r),
            "file_case": case[0] if case else None,
        }

    def manifest(self, delivered: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "province": self.province,
            "calibrated": self.calibrated,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "seed": self.seed,
            "scale": self.scale,
            "units": [u.city_code for u in self.units],
            "expected_report": self.expected_report(),
            "expected_alerts": self.expected_alerts,
            "controls": self.controls(),
            "bad_data": self.bad_data,
            "deliveries": delivered,
            "identities": self.identities,
        }

    def controls(self) -> list[str]:
        clean = [
            i
            for i in self.sim.institutions
            if i.role == "clean" and i.status == "active" and self.orders.get(i.institution_id)
        ]
        chosen = []
        for unit in self.units:
            chosen += [i.institution_id for i in clean if i.city_code == unit.city_code][:2]
        return chosen

    def expected_report(self) -> dict[str, Any]:
        insts = self.sim.institutions
        base = [i for i in insts if i.baseline_category == "subject" and i.stage == "compulsory"]
        dereg = sum(1 for i in base if i.status == "cancelled")
        conv = sum(1 for i in base if i.status != "cancelled" and i.category == "non_subject")
        remaining = [i for i in base if not (i.status == "cancelled" or i.category == "non_subject")]
        ns_active = [i for i in insts if i.category == "non_subject" and i.status == "active"]
        return {
            "subject_baseline": len(base),
            "deregistered": dereg,
            "converted": conv,
            "reduced": dereg + conv,
            "remaining_subject": len(remaining),
            "remaining_supervised": sum(1 for i in remaining if i.fund_supervision_mode != "none"),
            "remaining_model_contract": sum(1 for i in remaining if i.uses_model_contract),
            "remaining_nonprofit": sum(1 for i in remaining if i.nonprofit),
            "non_subject_active": len(ns_active),
            "non_subject_supervised": sum(1 for i in ns_active if i.fund_supervision_mode != "none"),
            "refund_students": self.manifest_refunds["students"],
            "refund_amount_yuan": f"{self.manifest_refunds['fen'] / 100:.2f}",
            "complaints_in_school": self.manifest_complaints["in_school"],
            "complaints_out_of_school": self.manifest_complaints["out_of_school"],
            "complaints_received": self.manifest_complaints["in_school"] + self.manifest_complaints["out_of_school"],
        }


def simulate(
    out: Path,
    start: dt.date,
    end: dt.date,
    province: str = "61",
    seed: int = 20221,
    scale: float = 1.0,
    cities: Iterable[str] | None = None,
) -> dict[str, Any]:
    return Simulator(province, start, end, seed, scale, cities).write(out)
