"""Read a delivered payload into a table of text cells, per the contract's section 1-2.

Format by extension (CSV, XLSX, JSONL); CSV encoding detected (UTF-8 with or
without BOM, else GB18030); headers mapped to canonical names (English or
Chinese alias, case- and whitespace-insensitive); unknown columns kept aside.
Whatever is wrong with the file as a whole raises ``RejectedDelivery`` with a
machine-readable code and a message a city's data team can act on.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from oversight.contract.spec import ExtractSpec

# XLSX safety limits: a delivery is at most a few hundred thousand rows.
XLSX_MAX_UNCOMPRESSED = 512 * 1024 * 1024
XLSX_MAX_RATIO = 200


class RejectedDelivery(ValueError):
    """The delivery as a whole breaks the contract; nothing of it is published."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class RawTable:
    """Delivered cells as text, verbatim, one Arrow array per column (null where a
    format has no cell), with canonical column names."""

    columns: list[str]  # canonical names, then extra columns as delivered
    data: dict[str, pa.Array]
    num_rows: int
    delivered_headers: dict[str, str]  # canonical name -> header as delivered
    extra_columns: list[str] = field(default_factory=list)
    encoding: str | None = None
    source_format: str = ""
    # records that do not fit the header: record index -> (fields found, values as delivered)
    misfits: dict[int, list[str]] = field(default_factory=dict)
    row_numbers: pa.Array | None = None  # 1-based record numbers of the rows in ``data``

    def row(self, i: int) -> list[str | None]:
        return [self.data[c][i].as_py() for c in self.columns]

    @classmethod
    def from_rows(
        cls,
        columns: list[str],
        rows: list[list[str | None]],
        delivered: dict[str, str],
        extras: list[str],
        encoding: str | None,
        source_format: str,
    ) -> RawTable:
        data = {name: pa.array([r[j] for r in rows], pa.string()) for j, name in enumerate(columns)}
        return cls(columns, data, len(rows), delivered, extras, encoding, source_format)


def normalise_header(text: str) -> str:
    return re.sub(r"\s+", "", str(text)).casefold()


def header_map(spec: ExtractSpec) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for col in spec.columns:
        mapping[normalise_header(col.name)] = col.name
        mapping[normalise_header(col.alias)] = col.name
    return mapping


def decode(data: bytes) -> tuple[str, str]:
    """Text and the encoding detected: UTF-8 (BOM or not), else GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise RejectedDelivery("encoding", f"file starts with a UTF-8 BOM but is not UTF-8: {exc}") from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise RejectedDelivery(
            "encoding",
            f"file is neither UTF-8 nor GB18030 (byte {exc.start}: {data[exc.start : exc.start + 4]!r}); "
            "re-export as UTF-8 or GB18030",
        ) from exc


def _map_headers(spec: ExtractSpec, headers: list[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """Canonical names per position; duplicates and missing required columns reject."""
    mapping = header_map(spec)
    names: list[str] = []
    delivered: dict[str, str] = {}
    extras: list[str] = []
    for raw in headers:
        header = "" if raw is None else str(raw).strip()
        canonical = mapping.get(normalise_header(header))
        if canonical is None:
            if not header:
                raise RejectedDelivery("empty_header", f"column {len(names) + 1} has an empty header")
            if header in extras or header in delivered.values():
                raise RejectedDelivery("duplicate_column", f"column '{header}' appears more than once in the header")
            extras.append(header)
            names.append(header)
            continue
        if canonical in delivered:
            raise RejectedDelivery(
                "duplicate_column",
                f"columns '{delivered[canonical]}' and '{header}' both mean {canonical}; keep one",
            )
        delivered[canonical] = header
        names.append(canonical)
    missing = [c for c in spec.always_required if c not in delivered]
    if missing:
        labels = ", ".join(f"{c} ({spec.column(c).alias})" for c in missing)
        raise RejectedDelivery("missing_column", f"required column(s) missing: {labels}")
    return names, delivered, extras


def read_csv(spec: ExtractSpec, data: bytes) -> RawTable:
    if not data.strip():
        raise RejectedDelivery("empty_file", "the file is empty (not even a header row)")
    text, encoding = decode(data)
    if encoding == "utf-8-sig":
        payload = data[3:]
    elif encoding == "utf-8":
        payload = data
    else:
        payload = text.encode("utf-8")
    if payload.count(b'"') % 2:
        raise RejectedDelivery("truncated", "CSV has an unterminated quoted field (truncated or badly quoted file)")
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), strict=True))
    except (csv.Error, StopIteration) as exc:
        raise RejectedDelivery("truncated", f"CSV header cannot be read: {exc}") from exc
    names, delivered, extras = _map_headers(spec, header)
    width = len(names)
    misfits: dict[int, list[str]] = {}

    def misfit(row: pa_csv.InvalidRow) -> str:
        values = next(csv.reader([row.text]), [])
        misfits[(row.number or 0) - 1] = values
        return "skip"

    placeholders = [f"c{i}" for i in range(width)]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(payload),
            read_options=pa_csv.ReadOptions(skip_rows=1, column_names=placeholders, use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=misfit),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(placeholders, pa.string()), strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        raise RejectedDelivery("truncated", f"CSV cannot be read: {exc} (truncated or badly quoted file)") from exc
    columns = {name: table.column(i).combine_chunks() for i, name in enumerate(names)}
    total = table.num_rows + len(misfits)
    numbers = None
    if misfits:
        keep = [i for i in range(1, total + 1) if i not in misfits]
        numbers = pa.array(keep, pa.int32())
    return RawTable(names, columns, table.num_rows, delivered, extras, encoding, "csv", misfits, numbers)


def _cell_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else format(value, "f").rstrip("0")
    return str(value)


def check_xlsx_container(data: bytes) -> None:
    """Refuse zip bombs before any XML is parsed (declared sizes and ratios)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise RejectedDelivery("bad_xlsx", f"not a valid XLSX (zip) file: {exc}") from exc
    with archive:
        total = 0
        for info in archive.infolist():
            total += info.file_size
            if info.compress_size and info.file_size / info.compress_size > XLSX_MAX_RATIO:
                raise RejectedDelivery(
                    "xlsx_bomb",
                    f"XLSX part {info.filename} expands {info.file_size / info.compress_size:.0f}x;"
                    " refused as a zip bomb",
                )
        if total > XLSX_MAX_UNCOMPRESSED:
            raise RejectedDelivery(
                "xlsx_bomb", f"XLSX declares {total} uncompressed bytes (limit {XLSX_MAX_UNCOMPRESSED}); refused"
            )
        if "xl/workbook.xml" not in archive.namelist():
            raise RejectedDelivery("bad_xlsx", "zip file has no xl/workbook.xml: not an XLSX workbook")


def read_xlsx(spec: ExtractSpec, data: bytes) -> RawTable:
    """First worksheet, first row the header. Read by calamine (Rust): it does not
    process DTDs, so entity-expansion attacks fail as parse errors; zip bombs are
    refused from the declared sizes before anything is inflated."""
    if not data:
        raise RejectedDelivery("empty_file", "the file is empty")
    check_xlsx_container(data)
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not book.sheet_names:
            raise RejectedDelivery("empty_file", "the workbook has no worksheet")
        values = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except RejectedDelivery:
        raise
    except Exception as exc:  # calamine raises its own error types for broken or hostile XML
        raise RejectedDelivery("bad_xlsx", f"XLSX cannot be read: {type(exc).__name__}: {exc}") from exc
    values = [row for row in values if any(cell not in (None, "") for cell in row)]
    if not values:
        raise RejectedDelivery("empty_file", "the first worksheet is empty")
    header = list(values[0])
    while header and header[-1] in (None, ""):
        header.pop()
    names, delivered, extras = _map_headers(spec, [str(h) if h is not None else "" for h in header])
    body = values[1:]
    columns: dict[str, pa.Array] = {}
    for j, name in enumerate(names):
        cells = [row[j] if j < len(row) else None for row in body]
        if all(type(v) is str for v in cells):  # text cells (the common case): no per-cell conversion
            text = pa.array(cells, pa.string())
            columns[name] = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        else:
            columns[name] = pa.array([_cell_text(v) for v in cells], pa.string())
    return RawTable(names, columns, len(body), delivered, extras, None, "xlsx")


def read_jsonl(spec: ExtractSpec, data: bytes) -> RawTable:
    if not data:
        raise RejectedDelivery("empty_file", "the file is empty (zero bytes)")
    text, encoding = decode(data)
    fast = _read_jsonl_arrow(spec, text, data if encoding == "utf-8" else text.encode("utf-8"), encoding)
    if fast is not None:
        return fast
    objects: list[dict[str, object]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RejectedDelivery("not_json", f"line {n} is not JSON: {exc.msg} at column {exc.colno}") from exc
        if not isinstance(obj, dict):
            raise RejectedDelivery("not_json", f"line {n} is JSON but not an object: {type(obj).__name__}")
        objects.append(obj)
    return table_from_records(spec, objects, "jsonl", encoding)


def _read_jsonl_arrow(spec: ExtractSpec, text: str, utf8: bytes, encoding: str) -> RawTable | None:
    """Fast path (Arrow's JSON reader) for the common case: every value a string or null.

    Returns None whenever the file needs the careful path (numbers, booleans,
    nested values, keys beyond the first lines, or any error): that path reads
    it again and explains what is wrong.
    """
    keys: list[str] = []
    for line in text.splitlines()[:1000]:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not isinstance(obj, dict):
            return None
        keys += [k for k in obj if k not in keys]
    if not keys:
        return None
    import pyarrow.json as pa_json

    schema = pa.schema([(k, pa.string()) for k in keys])
    try:
        table = pa_json.read_json(
            io.BytesIO(utf8),
            read_options=pa_json.ReadOptions(use_threads=False),
            parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    names, delivered, extras = _map_headers(spec, keys)
    columns = {name: table.column(key).combine_chunks() for name, key in zip(names, keys, strict=True)}
    return RawTable(names, columns, table.num_rows, delivered, extras, encoding, "jsonl")


def table_from_records(
    spec: ExtractSpec, objects: list[dict[str, object]], source_format: str, encoding: str | None = None
) -> RawTable:
    """Records (JSONL lines, HTTP pages) to a table; keys are the column names.

    No records at all means nothing happened on D (like a header-only CSV).
    """
    if not objects:
        return RawTable.from_rows(list(spec.names), [], {}, [], encoding, source_format)
    keys: list[str] = []
    seen: set[str] = set()
    for obj in objects:
        for k in obj:
            if k not in seen:
                seen.add(k)
                keys.append(k)
    names, delivered, extras = _map_headers(spec, keys)
    rows = [[_json_text(obj.get(k)) for k in keys] for obj in objects]
    return RawTable.from_rows(names, rows, delivered, extras, encoding, source_format)


def _json_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return _cell_text(value)


READERS = {"csv": read_csv, "xlsx": read_xlsx, "jsonl": read_jsonl}


def read_payload(spec: ExtractSpec, data: bytes, extension: str) -> RawTable:
    try:
        reader = READERS[extension]
    except KeyError as exc:
        raise RejectedDelivery("format", f"extension .{extension} is not one of csv, xlsx, jsonl") from exc
    return reader(spec, data)
