"""Simulate a province's city deliveries (file-drop layout), deterministic per seed.

For Shaanxi (61) the registry and the cumulative refund and complaint figures
are calibrated so that, as of the last simulated date, the warehouse reproduces
the province's 2022 report exactly: 4600 compulsory-stage subject-type
institutions on the baseline, 4431 reduced, 169 remaining (all supervised, on
the model contract), 3571 active non-subject institutions (all supervised),
220,000 students refunded 582,000,000.00 yuan (cash, course exchange, judicial),
2744 complaint clues (1248 in-school, 1496 out-of-school), all closed.

It also plants, and records in ``<out>/_simulation/manifest.json``:
- one regulatory breach per alert rule (valid data: it must reach raw),
- every kind of bad data of the contract's section 4 (it must be rejected or
  quarantined with the stated reason),
- clean control institutions (they must raise no alert),
- a sample of the personal identities used (for pseudonymisation checks).

Cities deliver in their own formats (GB18030 CSV with Chinese headers, UTF-8
CSV with BOM, XLSX, JSONL). ``scale`` multiplies daily activity: with
``cities`` it doubles as the load generator for benchmarks.

The package, by concern: ``state`` (records, calendar, the seeded state), ``identities``,
``registry`` (the institution population), ``activity`` (fee ledger, refunds, complaints),
``breaches`` (planted breaches, bad rows and bad files), ``formats`` (how each city renders
its deliveries) and ``run`` (the simulator: build, write the deliveries and the manifest).
"""

from __future__ import annotations

from oversight.devkit.simulator.run import Simulator, simulate
from oversight.devkit.simulator.state import Institution, Order, Simulation

__all__ = ["Institution", "Order", "Simulation", "Simulator", "simulate"]
