"""The simulator: build a province's simulation, write its deliveries and its manifest."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from oversight.contract.spec import SPECS
from oversight.devkit.simulator.activity import build_complaints, build_ledger, build_refunds
from oversight.devkit.simulator.breaches import file_level_plans, plant_bad_rows, plant_breaches, spoil
from oversight.devkit.simulator.formats import FORMAT_CYCLE, FORMATS, SHANGHAI, render
from oversight.devkit.simulator.registry import build_registry, snapshot
from oversight.devkit.simulator.state import SimState, Simulation


class Simulator(SimState):
    def build(self) -> Simulation:
        build_registry(self)
        plant_breaches(self)
        build_ledger(self)
        build_refunds(self)
        build_complaints(self)
        plant_bad_rows(self)
        return self.sim

    def write(self, out: Path) -> dict[str, Any]:
        self.build()
        out.mkdir(parents=True, exist_ok=True)
        spoil_plans = file_level_plans(self)
        delivered: list[dict[str, Any]] = []
        missing = self.missing_delivery
        late = self.late_delivery
        for idx, unit in enumerate(self.units):
            city = unit.city_code
            fmt = FORMATS.get(city, FORMAT_CYCLE[idx % len(FORMAT_CYCLE)])
            for day in self.days:
                for kind in SPECS:
                    if missing and (city, kind, day) == missing:
                        continue
                    rows = (
                        snapshot(self, city, day)
                        if kind == "institutions"
                        else self.sim.rows.get((city, kind, day), [])
                    )
                    if kind == "institutions":
                        rows += [r for r in self.sim.rows.get((city, kind, day), []) if "_bad" in r]
                    data = render(city, kind, rows, fmt)
                    marker: str | None = ""
                    case = spoil_plans.get((city, kind, day))
                    if case:
                        data, digest = spoil(data, case[0], kind, fmt)
                        marker = digest or ""
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
                    target = out / city / kind / f"{city}_{kind}_{day:%Y%m%d}.{fmt[0]}"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    ok = target.with_name(target.name + ".ok")
                    ok.write_text(marker if marker else (hashlib.sha256(data).hexdigest() if idx % 2 else ""))
                    # arrival times are Shanghai wall-clock times (not the host's local time)
                    arrival = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(7, 30 + idx), tzinfo=SHANGHAI)
                    if late and (city, kind, day) == late:
                        arrival = dt.datetime.combine(day + dt.timedelta(days=2), dt.time(11, 0), tzinfo=SHANGHAI)
                    stamp = arrival.timestamp()
                    os.utime(target, (stamp, stamp))
                    os.utime(ok, (stamp, stamp))
                    n_rows = len(rows)
                    delivered.append(
                        {
                            "city_code": city,
                            "kind": kind,
                            "business_date": day.isoformat(),
                            "format": fmt[0],
                            "encoding": fmt[1],
                            "rows": n_rows,
                            "bad_rows": sum(1 for r in rows if "_bad" in r),
                            "file_case": case[0] if case else None,
                        }
                    )
        manifest = {
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
        meta = out / "_simulation"
        meta.mkdir(exist_ok=True)
        (meta / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        return manifest

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
