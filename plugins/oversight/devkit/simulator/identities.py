"""Identities: institutions' unified social credit codes, and people (name, resident id, phone)."""

from __future__ import annotations

import datetime as dt
import hashlib

from stdnum.cn import ric, uscc

from oversight.devkit.simulator.state import SimState

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "子涵欣怡梓萱一诺浩宇雨桐思远嘉懿俊杰语嫣若曦明轩梓睿静怡晨阳佳琪文博"


def uscc_for(s: SimState, city: str, nonprofit: bool) -> str:
    n = s.next_id("uscc")
    h = hashlib.sha256(f"{s.seed}/{n}".encode()).digest()
    body = "".join(USCC_ALPHABET[b % 31] for b in h[:8])
    body = body.replace("I", "1").replace("O", "0")
    weights = [3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(ORG_ALPHABET.index(c) * w for c, w in zip(body, weights, strict=True))
    check = 11 - total % 11
    org = body + ("X" if check == 10 else "0" if check == 11 else str(check))
    prefix = ("52" if nonprofit else "91") + city[:4] + f"{(n % 9) + 1:02d}" + org
    code = prefix + uscc.calc_check_digit(prefix)
    assert uscc.is_valid(code), code
    return code


def person(s: SimState, city: str) -> tuple[str, str, str]:
    """(name, resident id number, phone), unique phone and id per person."""
    n = s.next_id("person")
    name = s.rng.choice(SURNAMES) + "".join(s.rng.choice(GIVEN) for _ in range(s.rng.choice((1, 2))))
    birth = dt.date(2010, 1, 1) + dt.timedelta(days=(n * 37) % 3000)
    body = f"{city[:4]}02{birth:%Y%m%d}{n % 1000:03d}"
    id_no = body + ric.calc_check_digit(body)
    phone = f"1{'35789'[n % 5]}{n:09d}"
    if len(s.identities) < 60 and n % 97 == 1:
        s.identities.append({"name": name, "id_no": id_no, "phone": phone})
    return name, id_no, phone
