"""Bad-input corpus: every case of the contract's section 4 and more, each with
its outcome (delivery rejected, or which rows quarantined) and its reason text."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable, Iterable

import openpyxl
import pytest

from oversight.contract.spec import SPECS
from oversight.ingest.parsing import RejectedDelivery, read_payload
from oversight.ingest.validation import ValidationResult, validate
from oversight.quality import suites as gx_project

D = dt.date(2026, 11, 2)
OK_ID = "91350100M000100Y43"
BAD_ID = "91350100M000100Y44"
REFUND_HEADER = (
    "refund_id,institution_id,requested_amount_yuan,refunded_amount_yuan,method,status,requested_date,"
    "completed_date,updated_at"
)
LEDGER_HEADER = "movement_id,institution_id,account_no,movement_type,amount_yuan,occurred_at"
COMPLAINT_HEADER = "complaint_id,city_code,received_channel,scope,category,received_at,status,updated_at"


def check(
    kind: str,
    text: str | bytes,
    ext: str = "csv",
    city: str = "610100",
    reused_keys: Callable[[Iterable[str]], dict[str, dt.date]] | None = None,
) -> ValidationResult:
    """Validate as the pipeline does: the engine evaluates the rules the kind's GX suite declares, then
    GX runs the suite's checkpoint on the same delivery; every expectation's exact unexpected count
    must equal the engine's count for its rule and column."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    result = validate(
        SPECS[kind],
        read_payload(SPECS[kind], data, ext),
        city,
        D,
        reused_keys=reused_keys,
        declared=gx_project.declared_rules(kind),
    )
    outcomes = gx_project.run_checkpoint(result, gx_project.parameters(city, D, result.reused_keys))
    assert outcomes, "GX evaluated nothing"
    disagreements = [o for o in outcomes if not o.agrees]
    assert not disagreements, disagreements
    assert sum(result.rule_failures.values()) >= len(result.quarantined)  # every quarantined row has a reason
    return result


def rejected(kind: str, data: bytes, ext: str = "csv") -> RejectedDelivery:
    with pytest.raises(RejectedDelivery) as err:
        check(kind, data, ext)
    return err.value


def reasons(result: ValidationResult) -> dict[int, list[tuple[str, str]]]:
    return {q["row_number"]: [(r["rule"], r["message"]) for r in q["reasons"]] for q in result.quarantined}


def refund(
    rid: str,
    requested: str = "100.00",
    refunded: str = "0",
    status: str = "requested",
    requested_date: str = "2026-11-01",
    inst: str = OK_ID,
) -> str:
    return f"{rid},{inst},{requested},{refunded},,{status},{requested_date},,2026-11-02 10:00:00"


def xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


# -- whole deliveries rejected -------------------------------------------------------------


def test_wrong_encoding() -> None:
    err = rejected("refunds", (REFUND_HEADER + "\n" + refund("R1")).encode("utf-16"))
    assert err.code == "encoding" and "neither UTF-8 nor GB18030" in err.message


def test_truncated_file() -> None:
    err = rejected("refunds", (REFUND_HEADER + '\nR1,"' + OK_ID).encode())
    assert err.code == "truncated" and "unterminated quoted field" in err.message


def test_bad_xlsx() -> None:
    err = rejected("refunds", b"PK\x03\x04 not a workbook", "xlsx")
    assert err.code == "bad_xlsx" and "not a valid XLSX" in err.message


def test_not_json() -> None:
    err = rejected("refunds", b'{"refund_id": "R1"}\n{"refund_id": \n', "jsonl")
    assert err.code == "not_json" and err.message.startswith("line 2 is not JSON")


def test_json_line_that_is_not_an_object() -> None:
    err = rejected("refunds", b'["R1", "x"]\n', "jsonl")
    assert err.code == "not_json" and "not an object" in err.message


@pytest.mark.parametrize("ext", ["csv", "xlsx", "jsonl"])
def test_empty_file(ext: str) -> None:
    err = rejected("refunds", b"", ext)
    assert err.code == "empty_file" and "empty" in err.message


def test_header_only_file_is_an_empty_day_for_events_but_not_for_the_registry() -> None:
    result = check("refunds", REFUND_HEADER + "\n")
    assert result.rows_delivered == 0 and result.valid.num_rows == 0
    header = ",".join(c.name for c in SPECS["institutions"].columns)
    err = rejected("institutions", (header + "\n").encode())
    assert err.code == "empty_snapshot"


def test_missing_required_column_names_it_in_both_languages() -> None:
    err = rejected("fee_ledger", b"movement_id,institution_id,account_no,movement_type,occurred_at\n")
    assert err.code == "missing_column" and err.message == "required column(s) missing: amount_yuan (金额)"


def test_duplicate_column_even_across_languages() -> None:
    err = rejected("fee_ledger", (LEDGER_HEADER + ",金额\n").encode())
    assert err.code == "duplicate_column"
    assert err.message == "columns 'amount_yuan' and '金额' both mean amount_yuan; keep one"


def test_zip_bomb_xlsx_is_refused_before_inflating() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"0" * (64 * 1024 * 1024))
    assert len(buf.getvalue()) < 1_000_000
    err = rejected("refunds", buf.getvalue(), "xlsx")
    assert err.code == "xlsx_bomb" and "zip bomb" in err.message


def test_billion_laughs_xlsx_is_refused() -> None:
    good = zipfile.ZipFile(io.BytesIO(xlsx([["refund_id", "status"], ["R1", "requested"]])))
    dtd = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(f'<!ENTITY lol{i} "' + ("&lol;" if i == 1 else f"&lol{i - 1};") * 10 + '">' for i in range(1, 10))
        + "]>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in good.infolist():
            data = good.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = data.decode().split("?>", 1)[-1].replace("<t>R1</t>", "<t>&lol9;</t>")
                data = (dtd + body).encode()
            z.writestr(info, data)
    err = rejected("refunds", out.getvalue(), "xlsx")
    assert err.code == "bad_xlsx" and "entity" in err.message


# -- rows quarantined, the rest published ------------------------------------------------------


def test_invalid_check_character() -> None:
    result = check("refunds", "\n".join([REFUND_HEADER, refund("R1"), refund("R2", inst=BAD_ID)]))
    assert reasons(result) == {
        2: [
            (
                "check_character",
                f"column institution_id value '{BAD_ID}' is not a valid "
                "unified social credit code (length, characters or check character)",
            )
        ]
    }
    assert result.valid.column("refund_id").to_pylist() == ["R1"]


def test_unparseable_date_and_amount() -> None:
    result = check(
        "refunds",
        "\n".join([REFUND_HEADER, refund("R1", requested="12.3.4"), refund("R2", requested_date="2026-02-30")]),
    )
    assert reasons(result) == {
        1: [("amount", "column requested_amount_yuan value '12.3.4' is not an amount in yuan (at most 2 decimals)")],
        2: [("date", "column requested_date value '2026-02-30' is not a date (YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD)")],
    }


def test_date_after_the_business_date() -> None:
    result = check("refunds", "\n".join([REFUND_HEADER, refund("R1", requested_date="20261103")]))
    assert reasons(result) == {
        1: [("not_after_business_date", "column requested_date value '20261103' is after the business date 2026-11-02")]
    }


def test_negative_amount_in_chinese_headers() -> None:
    text = (
        "流水号,统一社会信用代码,监管账户,资金类型,金额,发生时间\n"
        f"M1,{OK_ID},6217,保证金缴存,-30.00,2026-11-02 09:00:00\n"
    )
    result = check("fee_ledger", text)
    assert reasons(result) == {1: [("positive", "column 金额 value '-30.00' must be > 0")]}


def test_refund_larger_than_its_request() -> None:
    result = check("refunds", "\n".join([REFUND_HEADER, refund("R1", requested="100", refunded="120.50")]))
    assert reasons(result) == {
        1: [
            ("refund_exceeds_request", "column refunded_amount_yuan value '120.50' exceeds requested_amount_yuan '100'")
        ]
    }


def test_city_code_not_the_delivering_city() -> None:
    row = "C1,610200,platform,out_of_school,fees,2026-11-01 09:00:00,open,2026-11-02 09:00:00"
    result = check("complaints", COMPLAINT_HEADER + "\n" + row)
    assert reasons(result) == {1: [("city_code", "column city_code value '610200' is not the delivering city 610100")]}


def test_duplicate_key_inside_one_file_quarantines_every_copy() -> None:
    result = check("refunds", "\n".join([REFUND_HEADER, refund("R1"), refund("R2"), refund("R1")]))
    message = "column refund_id value 'R1' appears in rows 1, 3 of this delivery; keys must be unique"
    assert reasons(result) == {1: [("duplicate_key", message)], 3: [("duplicate_key", message)]}


def test_movement_id_delivered_on_another_day() -> None:
    text = (
        LEDGER_HEADER + f"\nM1,{OK_ID},6217,reserve_deposit,100,2026-11-02 09:00:00"
        f"\nM2,{OK_ID},6217,reserve_deposit,100,2026-11-02 09:00:00\n"
    )
    seen = {"M1": dt.date(2026, 10, 30)}
    result = check("fee_ledger", text, reused_keys=lambda ids: {k: v for k, v in seen.items() if k in set(ids)})
    assert reasons(result) == {
        1: [
            (
                "movement_id_reused",
                "column movement_id value 'M1' was already delivered for "
                "2026-10-30; a movement_id is unique per city for ever",
            )
        ]
    }


def test_unknown_enumeration_label() -> None:
    row = "C1,610100,platform,校外培训,fees,2026-11-01 09:00:00,open,2026-11-02 09:00:00"
    result = check("complaints", COMPLAINT_HEADER + "\n" + row)
    ((rule, message),) = reasons(result)[1]
    assert rule == "enumeration"
    assert message == "column scope value '校外培训' is not one of in_school/校内, out_of_school/校外"


def test_conditional_requirement() -> None:
    result = check("refunds", "\n".join([REFUND_HEADER, refund("R1", refunded="100", status="completed")]))
    assert [r[0] for r in reasons(result)[1]] == ["required_when", "required_when"]
    assert reasons(result)[1][0][1] == "column method is required when status is completed"


def test_excel_serial_date_is_explained() -> None:
    data = xlsx(
        [
            [
                "refund_id",
                "institution_id",
                "requested_amount_yuan",
                "refunded_amount_yuan",
                "status",
                "requested_date",
                "updated_at",
            ],
            ["R1", OK_ID, 100, 0, "requested", 46327, "2026-11-02 10:00:00"],
            ["R2", OK_ID, 100, 0, "requested", dt.date(2026, 11, 1), "2026-11-02 10:00:00"],
        ]
    )
    result = check("refunds", data, "xlsx")
    ((rule, message),) = reasons(result)[1]
    assert rule == "date" and "looks like an Excel serial number" in message
    assert result.valid.column("requested_date").to_pylist() == ["2026-11-01"]


def test_thousands_separators_and_formats_are_accepted() -> None:
    text = REFUND_HEADER + f'\nR1,{OK_ID},"1,234,567.50",0,,已申请,2026/11/01,,2026-11-02T10:00:00\n'
    result = check("refunds", text)
    assert result.quarantined == []
    assert result.valid.column("requested_amount_yuan").to_pylist() == ["1234567.50"]
    assert result.valid.column("updated_at").to_pylist() == ["2026-11-02 10:00:00"]


def test_a_row_with_too_few_fields() -> None:
    result = check("refunds", "\n".join([REFUND_HEADER, refund("R1"), "R2,x", refund("R3")]))
    assert reasons(result) == {
        2: [("field_count", "row has 2 fields but the header has 9 (truncated or misquoted row)")]
    }
    assert result.valid.column("row_number").to_pylist() == [1, 3]
    assert result.quarantined[0]["delivered_values"] == {"refund_id": "R2", "institution_id": "x"}


def test_unknown_columns_are_kept_aside() -> None:
    result = check("refunds", REFUND_HEADER + ",备注\n" + refund("R1") + ",加急\n")
    assert result.valid.column("extra_columns").to_pylist() == ['{"备注": "加急"}']
