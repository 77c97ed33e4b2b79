"""Check digits of card numbers, bank accounts and national identifiers.

A number of the right shape is personal data only when its check digit agrees: that is
what keeps order numbers, timestamps and ticket ids out of the findings. Every function
takes the digits (and letters, where the format has them) without separators, and runs
in time linear in its input.
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
