"""Constants of the city extract contract (version 1) that code relies on."""

from __future__ import annotations

import re
from typing import Final

KINDS: Final = ("institutions", "fee_ledger", "refunds", "complaints")
EXTENSIONS: Final = ("csv", "xlsx", "jsonl")
CITY_CODE = re.compile(r"^[0-9]{6}$")
FILE_NAME = re.compile(
    r"^(?P<city>[0-9]{6})_(?P<kind>institutions|fee_ledger|refunds|complaints)_"
    r"(?P<date>[0-9]{8})\.(?P<ext>csv|xlsx|jsonl)$"
)
OK_SUFFIX: Final = ".ok"
