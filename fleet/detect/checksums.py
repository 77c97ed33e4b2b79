"""Check digits of card numbers, bank accounts and national identifiers.

A number of the right shape is personal data only when its check digit agrees: that is
what keeps order numbers, timestamps and ticket ids out of the findings. Every function
takes the digits (and letters, where the format has them) without separators, and runs
in time linear in its input.

Here: Luhn, IBAN, and the checks the PII detector applies itself. The checks of the
national identifiers that :mod:`fleet.detect.national` reads from their digits alone are
in :mod:`fleet.detect.checksums_national`, which shares this module's helpers.
"""

from __future__ import annotations

import datetime as dt


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# IBAN length per country (ISO 13616 registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27,
    "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def iban_ok(candidate: str) -> bool:
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum() or not compact.isascii():
        return False
    if compact[:2] == "RF":
        return False  # an ISO 11649 creditor reference (a payment's, mod 97 as an IBAN is)
    expected = IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]  # fmt: skip
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]  # fmt: skip


def verhoeff_ok(digits: str) -> bool:
    """India's Aadhaar check digit."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return c == 0


def de_tax_id_ok(digits: str) -> bool:
    """Germany's Steuer-ID: 11 digits, no leading zero, one digit of the first ten
    repeated (twice or three times), ISO 7064 MOD 11,10 check digit."""
    if len(digits) != 11 or digits[0] == "0":
        return False
    counts = sorted((digits[:10].count(d) for d in set(digits[:10])), reverse=True)
    if counts[0] not in (2, 3) or (len(counts) > 1 and counts[1] != 1):
        return False
    product = 10
    for ch in digits[:10]:
        total = (ord(ch) - 48 + product) % 10 or 10
        product = (total * 2) % 11
    check = 11 - product
    return (0 if check == 10 else check) == ord(digits[10]) - 48


def fr_insee_ok(value: str) -> bool:
    """France's NIR (numéro de sécurité sociale): 13 characters and a two-digit key,
    97 minus the number mod 97; Corsica's 2A/2B departments count as 19/18."""
    if len(value) != 15 or value[0] not in "12378":
        return False
    body = value[:13].upper().replace("2A", "19").replace("2B", "18")
    if not body.isdigit() or not value[13:].isdigit():
        return False
    return 97 - int(body) % 97 == int(value[13:])


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_dni_ok(value: str) -> bool:
    """Spain's DNI (8 digits and a letter) or NIE (X, Y or Z, 7 digits, a letter)."""
    value = value.upper()
    if len(value) != 9:
        return False
    head = value[:8]
    if head[0] in "XYZ":
        head = str("XYZ".index(head[0])) + head[1:]
    return head.isdigit() and _DNI_LETTERS[int(head) % 23] == value[8]


_CF_ODD = {
    **dict(zip("0123456789", [1, 0, 5, 7, 9, 13, 15, 17, 19, 21], strict=True)),
    **dict(
        zip(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16,
             10, 22, 25, 24, 23],
            strict=True,
        )
    ),
}  # fmt: skip


def it_codice_fiscale_ok(value: str) -> bool:
    """Italy's codice fiscale: the 16th character checks the first 15."""
    value = value.upper()
    if len(value) != 16 or not value.isalnum():
        return False
    total = 0
    for i, ch in enumerate(value[:15]):
        if i % 2 == 0:  # odd positions, counting from 1
            total += _CF_ODD[ch]
        else:
            total += int(ch) if ch.isdigit() else ord(ch) - 65
    return chr(65 + total % 26) == value[15]


def br_cpf_ok(digits: str) -> bool:
    """Brazil's CPF: 11 digits, two mod-11 check digits."""
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    for n in (9, 10):
        total = sum((ord(digits[i]) - 48) * (n + 1 - i) for i in range(n))
        if (total * 10 % 11) % 10 != ord(digits[n]) - 48:
            return False
    return True


def _date_ok(yy: int, mm: int, dd: int) -> bool:
    try:
        dt.date(yy, mm, dd)
    except ValueError:
        return False
    return True


def se_personnummer_ok(digits: str) -> bool:
    """Sweden's personnummer: YYMMDD (or YYYYMMDD) and four digits, Luhn over the last 10
    (the day plus 60 for a samordningsnummer)."""
    if len(digits) == 12:
        digits = digits[2:]
    if len(digits) != 10:
        return False
    mm, dd = int(digits[2:4]), int(digits[4:6])
    if dd > 60:
        dd -= 60
    return _date_ok(2000, mm, dd) and luhn_ok(digits)


def cn_resident_id_ok(value: str) -> bool:
    """China's resident identity card number: 17 digits and an ISO 7064 MOD 11-2 check
    character (0-9 or X), with the birth date at positions 7-14."""
    value = value.upper()
    if len(value) != 18 or not value[:17].isdigit():
        return False
    if not _date_ok(int(value[6:10]), int(value[10:12]), int(value[12:14])):
        return False
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum((ord(c) - 48) * w for c, w in zip(value[:17], weights, strict=True))
    return "10X98765432"[total % 11] == value[17]


def nl_bsn_ok(digits: str) -> bool:
    """The Netherlands' BSN: the 11-proof with the last digit weighted -1."""
    if len(digits) != 9:
        return False
    total = sum((ord(c) - 48) * w for c, w in zip(digits, range(9, 1, -1), strict=False))
    return (total - (ord(digits[8]) - 48)) % 11 == 0 and digits != "000000000"


def pl_pesel_ok(digits: str) -> bool:
    """Poland's PESEL: 11 digits, weighted check digit."""
    if len(digits) != 11:
        return False
    weights = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3]
    total = sum((ord(c) - 48) * w for c, w in zip(digits, weights, strict=False))
    return (10 - total % 10) % 10 == ord(digits[10]) - 48


def uk_nhs_ok(digits: str) -> bool:
    """The UK's NHS number: 10 digits, mod-11 check digit."""
    if len(digits) != 10:
        return False
    total = sum((ord(c) - 48) * w for c, w in zip(digits, range(10, 1, -1), strict=False))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == ord(digits[9]) - 48


# ------------------------------------------------------------------ national identifiers
#
# Each takes the identifier without separators. Dates inside an identifier are checked
# too: a check digit alone lets one number in ten or eleven through, a birth date that
# exists and a check digit that agrees far fewer.


def _n(digits: str) -> list[int]:
    return [ord(c) - 48 for c in digits]


def _weighted(digits: str, weights: tuple[int, ...] | list[int]) -> int:
    return sum((ord(c) - 48) * w for c, w in zip(digits, weights, strict=False))


def _yymmdd_ok(yy: str, mm: str, dd: str) -> bool:
    """A day of the year in some century (29 February counts in a leap year only)."""
    return _date_ok(2000 + int(yy) if int(yy) != 0 else 2000, int(mm), int(dd)) or _date_ok(
        1900 + int(yy), int(mm), int(dd)
    )


_CURP_VALUES = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ")}


def mx_curp_ok(value: str) -> bool:
    """Mexico's CURP: 18 characters, the last a check digit over the first 17."""
    value = value.upper()
    if len(value) != 18 or not _yymmdd_ok(value[4:6], value[6:8], value[8:10]):
        return False
    try:
        total = sum(_CURP_VALUES[c] * (18 - i) for i, c in enumerate(value[:17]))
    except KeyError:
        return False
    return str((10 - total % 10) % 10) == value[17]


def sg_nric_ok(value: str) -> bool:
    """Singapore's NRIC and FIN: S, T, F, G or M, seven digits, a check letter."""
    value = value.upper()
    if len(value) != 9 or value[0] not in "STFGM" or not value[1:8].isdigit():
        return False
    total = _weighted(value[1:8], (2, 7, 6, 5, 4, 3, 2)) + {"T": 4, "G": 4, "M": 3}.get(value[0], 0)  # fmt: skip
    table = {"S": "JZIHGFEDCBA", "T": "JZIHGFEDCBA", "F": "XWUTRQPNMLK", "G": "XWUTRQPNMLK",
             "M": "XWUTRQPNJLK"}[value[0]]  # fmt: skip
    return table[total % 11] == value[8]


def fi_hetu_ok(value: str) -> bool:
    """Finland's henkilötunnus: DDMMYY, a century sign, three digits, a check character
    (the nine digits mod 31)."""
    value = value.upper()
    if len(value) != 11 or value[6] not in "+-ABCDEFUVWXY" or not (value[:6] + value[7:10]).isdigit():  # fmt: skip
        return False
    if not _yymmdd_ok(value[4:6], value[2:4], value[:2]):
        return False
    return "0123456789ABCDEFHJKLMNPRSTUVWXY"[int(value[:6] + value[7:10]) % 31] == value[10]


_TW_LETTERS = "ABCDEFGHJKLMNPQRSTUVXYWZIO"


def tw_id_ok(value: str) -> bool:
    """Taiwan's national identification number: a letter (the place), 1 or 2, eight
    digits, the last a check digit."""
    value = value.upper()
    if len(value) != 10 or value[0] not in _TW_LETTERS or value[1] not in "12" or not value[1:].isdigit():  # fmt: skip
        return False
    n = _TW_LETTERS.index(value[0]) + 10
    total = n // 10 + (n % 10) * 9 + _weighted(value[1:9], (8, 7, 6, 5, 4, 3, 2, 1)) + ord(value[9]) - 48  # fmt: skip
    return total % 10 == 0


def hk_hkid_ok(value: str) -> bool:
    """Hong Kong's identity card number: one or two letters, six digits, a check
    character (0-9 or A) often written in brackets."""
    value = value.upper().replace("(", "").replace(")", "").replace(" ", "")
    if not 8 <= len(value) <= 9 or not value[-7:-1].isdigit():
        return False
    head = value[:-7]
    if not head.isalpha() or not head.isascii():
        return False
    chars = head.rjust(2, " ") + value[-7:-1]
    total = sum((36 if c == " " else (ord(c) - 55 if c.isalpha() else ord(c) - 48)) * w
                for c, w in zip(chars, range(9, 1, -1), strict=True))  # fmt: skip
    check = (11 - total % 11) % 11
    return ("A" if check == 10 else str(check)) == value[-1]


def cl_rut_ok(value: str) -> bool:
    """Chile's RUT/RUN: the number and a mod-11 check character (0-9 or K)."""
    value = value.upper().replace(".", "").replace("-", "")
    body, check = value[:-1], value[-1:]
    if not 7 <= len(body) <= 8 or not body.isdigit():
        return False
    total = sum((ord(c) - 48) * (2 + i % 6) for i, c in enumerate(reversed(body)))
    r = 11 - total % 11
    return {11: "0", 10: "K"}.get(r, str(r)) == check


def ie_pps_ok(value: str) -> bool:
    """Ireland's PPS number: seven digits, a check letter (mod 23), maybe a second letter."""
    value = value.upper()
    if len(value) not in (8, 9) or not value[:7].isdigit() or not value[7:].isalpha():
        return False
    total = _weighted(value[:7], (8, 7, 6, 5, 4, 3, 2))
    if len(value) == 9 and value[8] != "W":
        total += (ord(value[8]) - 64) * 9
    return "WABCDEFGHIJKLMNOPQRSTUV"[total % 23] == value[7]


def de_svnr_ok(value: str) -> bool:
    """Germany's Sozialversicherungsnummer (Rentenversicherungsnummer): area, DDMMYY, the
    initial of the birth name, serial, check digit (sums of digits of weighted products)."""
    value = value.upper().replace(" ", "")
    if len(value) != 12 or not value[8].isalpha() or not (value[:8] + value[9:]).isdigit():
        return False
    if not _yymmdd_ok(value[6:8], value[4:6], value[2:4]):
        return False
    digits = value[:8] + f"{ord(value[8]) - 64:02d}" + value[9:11]
    total = 0
    for c, w in zip(digits, (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1), strict=True):
        p = (ord(c) - 48) * w
        total += p // 10 + p % 10
    return total % 10 == ord(value[11]) - 48


def _icao_value(c: str) -> int:
    return ord(c) - 48 if c.isdigit() else ord(c) - 55


def icao_ok(value: str) -> bool:
    """The ICAO 9303 check digit (weights 7, 3, 1) over letters and digits: machine-readable
    passports and identity cards (Germany's Personalausweis)."""
    value = value.upper()
    if len(value) < 2 or not value.isalnum() or not value.isascii():
        return False
    total = sum(_icao_value(c) * (7, 3, 1)[i % 3] for i, c in enumerate(value[:-1]))
    return value[-1].isdigit() and total % 10 == ord(value[-1]) - 48


_NHI_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def nz_nhi_ok(value: str) -> bool:
    """New Zealand's NHI number (the older form): three letters (no I or O), three digits,
    a mod-11 check digit."""
    value = value.upper()
    if len(value) != 7 or not value[3:].isdigit() or any(c not in _NHI_LETTERS for c in value[:3]):  # fmt: skip
        return False
    total = sum((_NHI_LETTERS.index(c) + 1) * w for c, w in zip(value[:3], (7, 6, 5), strict=True))
    total += _weighted(value[3:6], (4, 3, 2))
    check = 11 - total % 11
    return check != 10 and (0 if check == 11 else check) == ord(value[6]) - 48


def lk_nic_ok(value: str) -> bool:
    """Sri Lanka's NIC: nine digits and V or X (YY, day of the year + 500 for women), or
    twelve digits (YYYY, the day, serial)."""
    value = value.upper()
    if len(value) == 10 and value[:9].isdigit() and value[9] in "VX":
        days = int(value[2:5])
    elif len(value) == 12 and value.isdigit():
        days = int(value[4:7])
    else:
        return False
    days = days - 500 if days > 500 else days
    return 1 <= days <= 366


_PL_ID_LETTERS = {c: 10 + i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}


def pl_id_card_ok(value: str) -> bool:
    """Poland's dowód osobisty: three letters, a check digit, five digits."""
    value = value.upper()
    if len(value) != 9 or not value[:3].isalpha() or not value[3:].isdigit() or not value.isascii():  # fmt: skip
        return False
    values = [_PL_ID_LETTERS[c] for c in value[:3]] + _n(value[4:])
    total = sum(v * w for v, w in zip(values, (7, 3, 1, 7, 3, 1, 7, 3), strict=True))
    return total % 10 == ord(value[3]) - 48
