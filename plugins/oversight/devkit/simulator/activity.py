"""Daily activity of the simulated institutions: the fee ledger, refunds and complaint clues."""

from __future__ import annotations

import datetime as dt
from typing import Any

from oversight.devkit.simulator.identities import person
from oversight.devkit.simulator.registry import SHAANXI, SHAANXI_WEIGHTS, allocate
from oversight.devkit.simulator.state import Institution, Order, SimState, is_rest_day, working_days_before


# -- fee ledger ------------------------------------------------------------
def movement_id(s: SimState, city: str) -> str:
    return f"M{city}{s.next_id('mv' + city):09d}"


def prepaid(
    s: SimState,
    inst: Institution,
    day: dt.date,
    hours: float,
    price: int,
    *,
    months: int | None = None,
    days_span: int = 60,
    channel: str = "platform",
    hour: int = 10,
) -> Order:
    order = Order(
        order_id=f"O{inst.city_code}{s.next_id('order'):08d}",
        institution=inst,
        hours=hours,
        unit_price=price,
        student=s.counter["person"] + 1,
        remaining=hours,
        mode=inst.delivery_mode,
        course_category=inst.category,
    )
    name, id_no, _phone = person(s, inst.city_code)
    end = day + dt.timedelta(days=days_span)
    if months is not None:
        m = day.month - 1 + months
        end = dt.date(day.year + m // 12, m % 12 + 1, min(day.day, 28))
    class_type = s.rng.choice(("small", "medium", "large"))
    movement(
        s,
        inst,
        day,
        "prepaid",
        round(hours * price, 2),
        s.ts(day, hour, s.rng.randrange(60)),
        order_id=order.order_id,
        student_id_no=id_no,
        student_name=name,
        course_category=inst.category,
        class_hours=hours,
        unit_price_yuan=price,
        delivery_mode=inst.delivery_mode,
        class_type=class_type,
        service_start_date=day,
        service_end_date=end,
        channel=channel,
    )
    order.mode = inst.delivery_mode
    s.orders[inst.institution_id].append(order)
    return order


def release(
    s: SimState,
    order: Order,
    day: dt.date,
    *,
    hours: float | None = None,
    start: tuple[int, int] | None = None,
    minutes: int | None = None,
    amount: float | None = None,
    class_day: dt.date | None = None,
) -> None:
    inst = order.institution
    online = order.mode == "online"
    hours = hours if hours is not None else (1 if online else min(2, order.remaining))
    if hours <= 0:
        return
    minutes = minutes if minutes is not None else int(hours * (30 if online else 45))
    start = start or ((19, 0) if online else (18, 0))
    began = s.ts(class_day or day, *start)
    movement(
        s,
        inst,
        day,
        "release",
        amount if amount is not None else round(hours * order.unit_price, 2),
        s.ts(day, 21, 30),
        order_id=order.order_id,
        class_hours=hours,
        class_started_at=began,
        class_ended_at=began + dt.timedelta(minutes=minutes),
    )
    order.remaining -= hours


def movement(
    s: SimState,
    inst: Institution,
    day: dt.date,
    movement_type: str,
    amount: float,
    occurred_at: dt.datetime,
    *,
    account_prefix: str = "6217",
    **fields: Any,
) -> None:
    """One row of the fee ledger on ``inst``'s supervised account."""
    s.add(
        inst.city_code,
        "fee_ledger",
        day,
        {
            "movement_id": movement_id(s, inst.city_code),
            "institution_id": inst.institution_id,
            "account_no": f"{account_prefix}{inst.institution_id[8:16]}",
            "movement_type": movement_type,
            "amount_yuan": amount,
            "occurred_at": occurred_at,
            **fields,
        },
    )


def reserve_deposit(s: SimState, inst: Institution, day: dt.date, amount: float) -> None:
    movement(s, inst, day, "reserve_deposit", amount, s.ts(day, 9, 0), account_prefix="6228")


def clean_price(s: SimState, inst: Institution) -> int:
    if inst.category == "subject":
        return 20 if inst.delivery_mode == "online" else s.rng.choice((30, 35, 40))
    return s.rng.choice((40, 50, 60, 80))


def build_ledger(s: SimState) -> None:
    """Daily collections and class consumption of clean institutions."""
    active = [
        i
        for i in s.sim.institutions
        if i.status == "active" and i.fund_supervision_mode != "none" and i.role == "clean"
    ]
    rate = 0.12 * s.scale
    first = s.days[0]
    for inst in active:
        if inst.fund_supervision_mode == "reserve":
            reserve_deposit(s, inst, first, 200_000.0)
    for day in s.days:
        rest = is_rest_day(day)
        for inst in active:
            if inst.role != "clean":
                continue
            subject = inst.category == "subject"
            if not (subject and rest):
                n_new = int(rate) + (1 if s.rng.random() < rate - int(rate) else 0)
                for _ in range(n_new):
                    price = clean_price(s, inst)
                    hours = s.rng.choice((10, 12, 16, 20, 24, 30, 40))
                    if not subject:
                        hours = min(hours, 5000 // price)
                    prepaid(s, inst, day, hours, price, days_span=s.rng.choice((30, 45, 60, 80)))
            if subject and rest:
                continue
            for order in s.orders.get(inst.institution_id, []):
                if order.remaining > 0 and order.course_category == inst.category and order.unit_price < 100:
                    release(s, order, day)


# -- refunds -----------------------------------------------------------------
def refund_row(
    s: SimState,
    inst: Institution,
    day: dt.date,
    fen: int,
    status: str,
    requested: dt.date,
    person: tuple[str, str],
    method: str | None = None,
    completed: dt.date | None = None,
    refunded_fen: int | None = None,
) -> dict[str, Any]:
    return {
        "refund_id": f"R{inst.city_code}{s.next_id('refund'):08d}",
        "institution_id": inst.institution_id,
        "order_id": None,
        "student_name": person[0],
        "guardian_phone": person[1],
        "requested_amount_yuan": fen / 100,
        "refunded_amount_yuan": (fen if refunded_fen is None else refunded_fen) / 100 if status == "completed" else 0.0,
        "method": method,
        "status": status,
        "requested_date": requested,
        "completed_date": completed,
        "updated_at": s.ts(day, 16, s.rng.randrange(60)),
    }


def build_refunds(s: SimState) -> None:
    """This window's cases, the planted ones, then the history (calibrated to the report)."""
    window_students, window_fen = _window_refunds(s)
    _planted_refunds(s)
    students, total_fen = _historical_refunds(s, window_students, window_fen)
    s.manifest_refunds = {"students": students + window_students, "fen": total_fen + window_fen}


def _window_refunds(s: SimState) -> tuple[int, int]:
    """In-window cases of clean institutions: requested, acted on within 2 working days, some completed.

    Returns the students and the fen of the cases completed within the window.
    """
    d = s.days
    window_students = 0
    window_fen = 0
    in_window: list[tuple[Institution, dt.date, int, tuple[str, str]]] = []
    candidates = [i for i in s.sim.institutions if i.role == "clean" and i.status == "active"]
    for day in d[:-1]:
        for inst in s.rng.sample(candidates, k=min(len(candidates), max(1, int(4 * s.scale)))):
            name, _id, phone = person(s, inst.city_code)
            fen = s.rng.randrange(50_000, 400_000)
            in_window.append((inst, day, fen, (name, phone)))
    for inst, day, fen, who in in_window:
        row = refund_row(s, inst, day, fen, "requested", day, who)
        s.add(inst.city_code, "refunds", day, row)
        later = [x for x in d if x > day and not is_rest_day(x)]
        if later:
            s.add(
                inst.city_code,
                "refunds",
                later[0],
                {**row, "status": "in_progress", "updated_at": s.ts(later[0], 11)},
            )
        if len(later) >= 2:
            done = {
                **row,
                "status": "completed",
                "method": "cash",
                "refunded_amount_yuan": fen / 100,
                "completed_date": later[1],
                "updated_at": s.ts(later[1], 15),
            }
            s.add(inst.city_code, "refunds", later[1], done)
            window_students += 1
            window_fen += fen
    return window_students, window_fen


def _planted_refunds(s: SimState) -> None:
    """The refund_overdue case (requested 8 working days before the window) and the refund_surge."""
    d = s.days
    first = d[0]
    inst = s.refund_overdue
    name, _i, phone = person(s, inst.city_code)
    requested = working_days_before(first, 8)
    s.add(
        inst.city_code,
        "refunds",
        first,
        refund_row(s, inst, first, 180_000, "requested", requested, (name, phone)),
    )
    inst = s.refund_surge
    surge_day = d[min(2, len(d) - 1)]
    for _ in range(25):
        name, _i, phone = person(s, inst.city_code)
        row = refund_row(s, inst, surge_day, 150_000, "requested", surge_day, (name, phone))
        s.add(inst.city_code, "refunds", surge_day, row)
        nxt = [x for x in d if x > surge_day]
        if nxt:
            s.add(
                inst.city_code,
                "refunds",
                nxt[0],
                {**row, "status": "in_progress", "updated_at": s.ts(nxt[0], 10)},
            )


def _historical_refunds(s: SimState, window_students: int, window_fen: int) -> tuple[int, int]:
    """Historical completed cases delivered on the first day, calibrated to the report.

    Returns their students and fen.
    """
    first = s.days[0]
    if s.calibrated:
        students = SHAANXI["refund_students"] - window_students
        total_fen = SHAANXI["refund_fen"] - window_fen
    else:
        students = 2000 * len(s.units)
        total_fen = students * 264_500
    pool = [i for i in s.sim.institutions if i.group in ("deregistered", "converted") and i.role == "clean"]
    weights = [s.rng.uniform(0.5, 1.5) for _ in range(students)]
    wsum = sum(weights)
    fens = [max(1000, int(total_fen * w / wsum)) for w in weights]
    fens[-1] += total_fen - sum(fens)
    methods = ["cash"] * 68 + ["course_exchange"] * 27 + ["judicial"] * 5
    for k in range(students):
        inst = pool[k % len(pool)]
        name, _i, phone = person(s, inst.city_code)
        requested = dt.date(2021, 8, 1) + dt.timedelta(days=s.rng.randrange(500))
        completed = requested + dt.timedelta(days=s.rng.randrange(3, 60))
        method = methods[k % 100]
        if k % 20 == 0 and fens[k] > 2000:  # a second case for the same student: same person, split amount
            part = fens[k] // 3
            s.add(
                inst.city_code,
                "refunds",
                first,
                refund_row(s, inst, first, part, "completed", requested, (name, phone), method, completed),
            )
            fens[k] -= part
        s.add(
            inst.city_code,
            "refunds",
            first,
            refund_row(s, inst, first, fens[k], "completed", requested, (name, phone), method, completed),
        )
    return students, total_fen


# -- complaints ---------------------------------------------------------------
def complaint_row(
    s: SimState,
    city: str,
    day: dt.date,
    received: dt.datetime,
    scope: str,
    status: str,
    inst: Institution | None,
    category: str,
    closed: dt.datetime | None = None,
    cid: str | None = None,
) -> dict[str, Any]:
    _name, _i, phone = person(s, city)
    return {
        "complaint_id": cid or f"C{city}{s.next_id('complaint'):07d}",
        "city_code": city,
        "received_channel": s.rng.choice(("province_hotline", "city_hotline", "county_hotline", "platform")),
        "scope": scope,
        "institution_id": inst.institution_id if inst else None,
        "category": category,
        "received_at": received,
        "status": status,
        "closed_at": closed,
        "reporter_phone": phone,
        "summary": f"家长{_name}反映{'校外培训机构' if scope == 'out_of_school' else '学校'}相关问题，联系电话{phone}",
        "updated_at": s.ts(day, 17, s.rng.randrange(60)),
    }


def lifecycle(s: SimState, city: str, day: dt.date, scope: str, inst: Institution | None, category: str) -> None:
    """A clue received on ``day``, transferred, then closed by the last day."""
    d = s.days
    received = s.ts(day, 9, s.rng.randrange(60))
    row = complaint_row(s, city, day, received, scope, "open", inst, category)
    s.add(city, "complaints", day, row)
    later = [x for x in d if x > day]
    close_day = later[min(len(later) - 1, 2)] if later else day
    if later and close_day != later[0]:
        s.add(city, "complaints", later[0], {**row, "status": "transferred", "updated_at": s.ts(later[0], 12)})
    if close_day == day:
        s.sim.rows[(city, "complaints", day)][-1] = {
            **row,
            "status": "closed",
            "closed_at": s.ts(day, 16),
            "updated_at": s.ts(day, 16, 30),
        }
    else:
        s.add(
            city,
            "complaints",
            close_day,
            {
                **row,
                "status": "closed",
                "closed_at": s.ts(close_day, 15),
                "updated_at": s.ts(close_day, 15, 30),
            },
        )


def build_complaints(s: SimState) -> None:
    d = s.days
    in_school = out_school = 0
    late = s.late_delivery
    quiet = {(late[0], late[2])} if late else set()
    cats_out = ("unlicensed_training", "hidden_variant", "subject_violation", "fees", "refund", "other")
    cats_in = ("homework", "after_school", "fees", "other")
    clean = [i for i in s.sim.institutions if i.role == "clean" and i.status == "active"]
    for day in d:
        for unit in s.units:
            if (unit.city_code, day) in quiet:
                continue
            if s.rng.random() < 0.6:
                inst = s.rng.choice([i for i in clean if i.city_code == unit.city_code] or clean)
                lifecycle(s, unit.city_code, day, "out_of_school", inst, s.rng.choice(cats_out))
                out_school += 1
            if s.rng.random() < 0.4:
                lifecycle(s, unit.city_code, day, "in_school", None, s.rng.choice(cats_in))
                in_school += 1
    spike_day = d[min(1, len(d) - 1)]
    inst = s.complaint_spike
    for _ in range(12):
        lifecycle(s, inst.city_code, spike_day, "out_of_school", inst, "refund")
        out_school += 1
    # history, delivered on the first day: all closed
    if s.calibrated:
        hist_in = SHAANXI["complaints_in_school"] - in_school
        hist_out = SHAANXI["complaints_out_of_school"] - out_school
    else:
        hist_in, hist_out = 100 * len(s.units), 120 * len(s.units)
    first = d[0]
    weights = [SHAANXI_WEIGHTS.get(u.city_code, 1.0) for u in s.units]
    for scope, total in (("in_school", hist_in), ("out_of_school", hist_out)):
        for unit, n in zip(s.units, allocate(total, weights), strict=True):
            for _ in range(n):
                received = s.ts(dt.date(2021, 9, 1) + dt.timedelta(days=s.rng.randrange(400)), 10)
                closed = received + dt.timedelta(days=s.rng.randrange(1, 20))
                cat = s.rng.choice(cats_in if scope == "in_school" else cats_out)
                s.add(
                    unit.city_code,
                    "complaints",
                    first,
                    complaint_row(s, unit.city_code, first, received, scope, "closed", None, cat, closed),
                )
    s.manifest_complaints = {"in_school": hist_in + in_school, "out_of_school": hist_out + out_school}
