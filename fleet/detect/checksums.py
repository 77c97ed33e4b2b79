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


def iso7064_mod11_10(digits: str) -> bool:
    """ISO 7064 MOD 11,10 over all the digits (Croatia's OIB, Germany's Steuer-ID)."""
    product = 10
    for ch in digits[:-1]:
        total = (ord(ch) - 48 + product) % 10 or 10
        product = (total * 2) % 11
    check = 11 - product
    return (0 if check == 10 else check) == ord(digits[-1]) - 48


def hr_oib_ok(digits: str) -> bool:
    return len(digits) == 11 and iso7064_mod11_10(digits)


def no_fnr_ok(digits: str) -> bool:
    """Norway's fødselsnummer (and D-number, day + 40): DDMMYY, three digits, two mod-11
    check digits."""
    if len(digits) != 11:
        return False
    dd, mm = int(digits[:2]), int(digits[2:4])
    if dd > 40:
        dd -= 40
    if mm > 40:
        mm -= 40  # H-number
    if not _date_ok(2000, mm, dd):
        return False
    for n, weights in ((9, (3, 7, 6, 1, 8, 9, 4, 5, 2)), (10, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))):
        check = 11 - _weighted(digits, weights) % 11
        check = 0 if check == 11 else check
        if check == 10 or check != ord(digits[n]) - 48:
            return False
    return True


def cz_rodne_cislo_ok(digits: str) -> bool:
    """Czech and Slovak rodné číslo: YYMMDD (month + 50 for women, + 20 or + 70 since
    2004) and four digits, the whole divisible by 11; nine digits before 1954."""
    if len(digits) not in (9, 10):
        return False
    yy, mm, dd = int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    if mm > 70:
        mm -= 70
    elif mm > 50:
        mm -= 50
    elif mm > 20:
        mm -= 20
    if not _date_ok(2000, mm, dd):
        return False
    if len(digits) == 9:
        return yy < 54
    number = int(digits)
    return number % 11 == 0 or (int(digits[:9]) % 11 == 10 and digits[9] == "0")


def gr_amka_ok(digits: str) -> bool:
    """Greece's AMKA: DDMMYY, five digits, Luhn."""
    return len(digits) == 11 and _yymmdd_ok(digits[4:6], digits[2:4], digits[:2]) and luhn_ok(digits)  # fmt: skip


def gr_afm_ok(digits: str) -> bool:
    """Greece's AFM (tax number): nine digits, powers of two mod 11."""
    if len(digits) != 9 or digits == "000000000":
        return False
    total = sum((ord(c) - 48) << (8 - i) for i, c in enumerate(digits[:8]))
    return total % 11 % 10 == ord(digits[8]) - 48


def at_svnr_ok(digits: str) -> bool:
    """Austria's Sozialversicherungsnummer: three digits, a check digit, DDMMYY."""
    if len(digits) != 10 or digits[0] == "0":
        return False
    mm = int(digits[6:8])
    if not (1 <= int(digits[4:6]) <= 31 and 1 <= mm <= 12):
        return False
    check = _weighted(digits, (3, 7, 9, 0, 5, 8, 4, 2, 1, 6)) % 11
    return check != 10 and check == ord(digits[3]) - 48


def ro_cnp_ok(digits: str) -> bool:
    """Romania's CNP: sex and century, YYMMDD, county, serial, mod-11 check digit."""
    if len(digits) != 13 or digits[0] == "0":
        return False
    if not _yymmdd_ok(digits[1:3], digits[3:5], digits[5:7]):
        return False
    check = _weighted(digits, (2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9)) % 11
    return (1 if check == 10 else check) == ord(digits[12]) - 48


def ean13_ok(digits: str) -> bool:
    total = sum((ord(c) - 48) * (3 if i % 2 else 1) for i, c in enumerate(digits[:12]))
    return (10 - total % 10) % 10 == ord(digits[12]) - 48


def ch_ahv_ok(digits: str) -> bool:
    """Switzerland's AHV number: 756, nine digits, an EAN-13 check digit."""
    return len(digits) == 13 and digits.startswith("756") and ean13_ok(digits)


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


def mx_clabe_ok(digits: str) -> bool:
    """Mexico's CLABE (bank account): 18 digits, weights 3, 7, 1 mod 10."""
    if len(digits) != 18:
        return False
    total = sum((ord(c) - 48) * (3, 7, 1)[i % 3] % 10 for i, c in enumerate(digits[:17]))
    return (10 - total % 10) % 10 == ord(digits[17]) - 48


def sg_nric_ok(value: str) -> bool:
    """Singapore's NRIC and FIN: S, T, F, G or M, seven digits, a check letter."""
    value = value.upper()
    if len(value) != 9 or value[0] not in "STFGM" or not value[1:8].isdigit():
        return False
    total = _weighted(value[1:8], (2, 7, 6, 5, 4, 3, 2)) + {"T": 4, "G": 4, "M": 3}.get(value[0], 0)  # fmt: skip
    table = {"S": "JZIHGFEDCBA", "T": "JZIHGFEDCBA", "F": "XWUTRQPNMLK", "G": "XWUTRQPNMLK",
             "M": "XWUTRQPNJLK"}[value[0]]  # fmt: skip
    return table[total % 11] == value[8]


def au_tfn_ok(digits: str) -> bool:
    """Australia's tax file number: eight or nine digits, weighted sum divisible by 11."""
    weights = {9: (1, 4, 3, 7, 5, 8, 6, 9, 10), 8: (10, 7, 8, 4, 6, 3, 5, 1)}.get(len(digits))
    return weights is not None and _weighted(digits, weights) % 11 == 0 and len(set(digits)) > 1


def au_medicare_ok(digits: str) -> bool:
    """Australia's Medicare card number: ten digits (an eleventh, the holder's number, may
    follow), the first 2-6, the ninth a check digit over the first eight."""
    if len(digits) not in (10, 11) or digits[0] not in "23456":
        return False
    return _weighted(digits, (1, 3, 7, 9, 1, 3, 7, 9)) % 10 == ord(digits[8]) - 48


def au_abn_ok(digits: str) -> bool:
    """Australia's business number: 11 digits, mod 89."""
    if len(digits) != 11 or digits[0] == "0":
        return False
    d = _n(digits)
    d[0] -= 1
    return sum(x * w for x, w in zip(d, (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19), strict=True)) % 89 == 0  # fmt: skip


def nz_ird_ok(digits: str) -> bool:
    """New Zealand's IRD number: eight or nine digits, mod 11 (a second set of weights
    when the first gives 10)."""
    if len(digits) not in (8, 9) or not 10_000_000 <= int(digits) <= 150_000_000:
        return False
    base = digits[:-1].rjust(8, "0")
    for weights in ((3, 2, 7, 6, 5, 4, 3, 2), (7, 4, 3, 2, 5, 2, 7, 6)):
        r = _weighted(base, weights) % 11
        check = 0 if r == 0 else 11 - r
        if check != 10:
            return check == ord(digits[-1]) - 48
    return False


def ar_cuit_ok(digits: str) -> bool:
    """Argentina's CUIT/CUIL: a two-digit type, the DNI, a mod-11 check digit."""
    if len(digits) != 11 or digits[:2] not in ("20", "23", "24", "25", "26", "27", "30", "33", "34"):  # fmt: skip
        return False
    check = 11 - _weighted(digits, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)) % 11
    check = 0 if check == 11 else 9 if check == 10 else check
    return check == ord(digits[10]) - 48


def dk_cpr_ok(digits: str) -> bool:
    """Denmark's CPR number: DDMMYY and four digits (no check digit since 2007)."""
    return len(digits) == 10 and _yymmdd_ok(digits[4:6], digits[2:4], digits[:2])


def fi_hetu_ok(value: str) -> bool:
    """Finland's henkilötunnus: DDMMYY, a century sign, three digits, a check character
    (the nine digits mod 31)."""
    value = value.upper()
    if len(value) != 11 or value[6] not in "+-ABCDEFUVWXY" or not (value[:6] + value[7:10]).isdigit():  # fmt: skip
        return False
    if not _yymmdd_ok(value[4:6], value[2:4], value[:2]):
        return False
    return "0123456789ABCDEFHJKLMNPRSTUVWXY"[int(value[:6] + value[7:10]) % 31] == value[10]


def is_kennitala_ok(digits: str) -> bool:
    """Iceland's kennitala: DDMMYY (day + 40 for a company), two digits, a mod-11 check
    digit, the century."""
    if len(digits) != 10 or digits[9] not in "890":
        return False
    dd = int(digits[:2])
    if not _date_ok(2000, int(digits[2:4]), dd - 40 if dd > 40 else dd):
        return False
    check = 11 - _weighted(digits, (3, 2, 7, 6, 5, 4, 3, 2)) % 11
    check = 0 if check == 11 else check
    return check != 10 and check == ord(digits[8]) - 48


def bg_egn_ok(digits: str) -> bool:
    """Bulgaria's EGN: YYMMDD (month + 20 or + 40 by century), three digits, mod 11."""
    if len(digits) != 10:
        return False
    mm = int(digits[2:4]) % 20
    if not _date_ok(2000, mm or 20, int(digits[4:6])) or int(digits[2:4]) > 52:
        return False
    check = _weighted(digits, (2, 4, 8, 5, 10, 9, 7, 3, 6)) % 11
    return (0 if check == 10 else check) == ord(digits[9]) - 48


def jmbg_ok(digits: str) -> bool:
    """The JMBG of the former Yugoslav states (Slovenia's EMŠO too): DDMMYYY, region,
    serial, mod-11 check digit."""
    if len(digits) != 13 or not _date_ok(2000, int(digits[2:4]), int(digits[:2])):
        return False
    m = 11 - _weighted(digits, (7, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)) % 11
    return (0 if m > 9 else m) == ord(digits[12]) - 48


def ee_isikukood_ok(digits: str) -> bool:
    """Estonia's isikukood and Lithuania's asmens kodas: sex and century, YYMMDD, serial,
    a two-stage mod-11 check digit."""
    if len(digits) != 11 or digits[0] not in "123456":
        return False
    if not _yymmdd_ok(digits[1:3], digits[3:5], digits[5:7]):
        return False
    r = _weighted(digits, (1, 2, 3, 4, 5, 6, 7, 8, 9, 1)) % 11
    if r == 10:
        r = _weighted(digits, (3, 4, 5, 6, 7, 8, 9, 1, 2, 3)) % 11
        r = 0 if r == 10 else r
    return r == ord(digits[10]) - 48


def lv_personas_kods_ok(digits: str) -> bool:
    """Latvia's personas kods: DDMMYY, century, serial, check digit (or, since 2017, 32
    and nine random digits)."""
    if len(digits) != 11:
        return False
    if digits.startswith("32"):
        return True
    if not _yymmdd_ok(digits[4:6], digits[2:4], digits[:2]):
        return False
    return (1101 - _weighted(digits, (1, 6, 3, 7, 9, 10, 5, 8, 4, 2))) % 11 == ord(digits[10]) - 48  # fmt: skip


def tr_tckn_ok(digits: str) -> bool:
    """Turkey's T.C. Kimlik No: 11 digits, the first not 0, two check digits."""
    if len(digits) != 11 or digits[0] == "0":
        return False
    d = _n(digits)
    if (sum(d[0:9:2]) * 7 - sum(d[1:8:2])) % 10 != d[9]:
        return False
    return sum(d[:10]) % 10 == d[10]


def za_id_ok(digits: str) -> bool:
    """South Africa's identity number: YYMMDD, serial, citizenship, Luhn."""
    return (
        len(digits) == 13
        and digits[10] in "012"
        and _yymmdd_ok(digits[:2], digits[2:4], digits[4:6])
        and luhn_ok(digits)
    )


def kr_rrn_ok(digits: str) -> bool:
    """South Korea's resident registration number: YYMMDD, sex and century, six digits,
    the last a mod-11 check digit (numbers issued since 2020 have none)."""
    if len(digits) != 13 or digits[6] not in "12345678":
        return False
    if not _yymmdd_ok(digits[:2], digits[2:4], digits[4:6]):
        return False
    check = (11 - _weighted(digits, (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)) % 11) % 10
    return check == ord(digits[12]) - 48


def kr_rrn_date_ok(digits: str) -> bool:
    """A Korean resident registration number without its check: YYMMDD, sex and century."""
    return len(digits) == 13 and digits[6] in "12345678" and _yymmdd_ok(digits[:2], digits[2:4], digits[4:6])  # fmt: skip


def jp_my_number_ok(digits: str) -> bool:
    """Japan's My Number (個人番号): 12 digits, mod-11 check digit."""
    if len(digits) != 12:
        return False
    body = digits[:11][::-1]
    total = sum((ord(c) - 48) * (n + 1 if n <= 6 else n - 5) for n, c in enumerate(body, 1))
    r = total % 11
    return (0 if r <= 1 else 11 - r) == ord(digits[11]) - 48


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


def th_id_ok(digits: str) -> bool:
    """Thailand's national ID: 13 digits, the first 1-8, mod-11 check digit."""
    if len(digits) != 13 or digits[0] in "09":
        return False
    return (11 - _weighted(digits, range(13, 1, -1)) % 11) % 10 == ord(digits[12]) - 48  # type: ignore[arg-type]


def br_cnpj_ok(digits: str) -> bool:
    """Brazil's CNPJ: 14 digits, two mod-11 check digits."""
    if len(digits) != 14 or len(set(digits)) == 1:
        return False
    for n, weights in ((12, (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)), (13, (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))):  # fmt: skip
        r = _weighted(digits, weights) % 11
        if (0 if r < 2 else 11 - r) != ord(digits[n]) - 48:
            return False
    return True


def br_pis_ok(digits: str) -> bool:
    """Brazil's PIS/PASEP/NIT: 11 digits, mod-11 check digit."""
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    check = 11 - _weighted(digits, (3, 2, 9, 8, 7, 6, 5, 4, 3, 2)) % 11
    return (0 if check >= 10 else check) == ord(digits[10]) - 48


def br_cns_ok(digits: str) -> bool:
    """Brazil's Cartão Nacional de Saúde: 15 digits, weighted sum divisible by 11."""
    return len(digits) == 15 and digits[0] in "12789" and _weighted(digits, range(15, 0, -1)) % 11 == 0  # type: ignore[arg-type]  # fmt: skip


def cl_rut_ok(value: str) -> bool:
    """Chile's RUT/RUN: the number and a mod-11 check character (0-9 or K)."""
    value = value.upper().replace(".", "").replace("-", "")
    body, check = value[:-1], value[-1:]
    if not 7 <= len(body) <= 8 or not body.isdigit():
        return False
    total = sum((ord(c) - 48) * (2 + i % 6) for i, c in enumerate(reversed(body)))
    r = 11 - total % 11
    return {11: "0", 10: "K"}.get(r, str(r)) == check


def ec_cedula_ok(digits: str) -> bool:
    """Ecuador's cédula: province (01-24, 30), a digit below 6, mod-10 check digit."""
    if len(digits) != 10 or not (1 <= int(digits[:2]) <= 24 or digits[:2] == "30") or digits[2] > "5":  # fmt: skip
        return False
    total = 0
    for i, c in enumerate(digits[:9]):
        p = (ord(c) - 48) * (2 if i % 2 == 0 else 1)
        total += p - 9 if p > 9 else p
    return (10 - total % 10) % 10 == ord(digits[9]) - 48


def uy_ci_ok(digits: str) -> bool:
    """Uruguay's cédula de identidad: seven digits (six for old ones) and a check digit."""
    if len(digits) not in (7, 8):
        return False
    body = digits[:-1].rjust(7, "0")
    return (10 - _weighted(body, (2, 9, 8, 7, 6, 3, 4)) % 10) % 10 == ord(digits[-1]) - 48


def ru_snils_ok(digits: str) -> bool:
    """Russia's SNILS: nine digits and a two-digit check (weights 9..1, mod 101)."""
    if len(digits) != 11 or int(digits[:9]) <= 1001998:
        return False
    total = _weighted(digits, range(9, 0, -1)) % 101  # type: ignore[arg-type]
    return (0 if total == 100 else total) == int(digits[9:])


def ru_inn_ok(digits: str) -> bool:
    """Russia's INN: ten digits (a company) or twelve (a person), mod-11 check digits."""
    w = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    if len(digits) == 10:
        return _weighted(digits, w[2:]) % 11 % 10 == ord(digits[9]) - 48
    if len(digits) == 12:
        return (
            _weighted(digits, w[1:]) % 11 % 10 == ord(digits[10]) - 48
            and _weighted(digits, w) % 11 % 10 == ord(digits[11]) - 48
        )
    return False


def ua_rnokpp_ok(digits: str) -> bool:
    """Ukraine's РНОКПП (tax number): ten digits, mod-11 check digit."""
    if len(digits) != 10 or len(set(digits)) == 1:
        return False
    return _weighted(digits, (-1, 5, 7, 9, 4, 6, 10, 5, 7)) % 11 % 10 == ord(digits[9]) - 48


def kz_iin_ok(digits: str) -> bool:
    """Kazakhstan's IIN: YYMMDD, century and sex, serial, a two-stage mod-11 check."""
    if len(digits) != 12 or not _yymmdd_ok(digits[:2], digits[2:4], digits[4:6]):
        return False
    r = _weighted(digits, range(1, 12)) % 11  # type: ignore[arg-type]
    if r == 10:
        r = _weighted(digits, (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)) % 11
    return r != 10 and r == ord(digits[11]) - 48


def pl_nip_ok(digits: str) -> bool:
    """Poland's NIP (tax number): ten digits, mod-11 check digit."""
    return len(digits) == 10 and _weighted(digits, (6, 5, 7, 2, 3, 4, 5, 6, 7)) % 11 == ord(digits[9]) - 48  # fmt: skip


def hu_taj_ok(digits: str) -> bool:
    """Hungary's TAJ (health insurance) number: nine digits, weights 3 and 7 mod 10."""
    return len(digits) == 9 and _weighted(digits, (3, 7, 3, 7, 3, 7, 3, 7)) % 10 == ord(digits[8]) - 48  # fmt: skip


def pt_nif_ok(digits: str) -> bool:
    """Portugal's NIF: nine digits, mod-11 check digit."""
    if len(digits) != 9 or digits[0] not in "1235689":
        return False
    check = 11 - _weighted(digits, range(9, 1, -1)) % 11  # type: ignore[arg-type]
    return (0 if check >= 10 else check) == ord(digits[8]) - 48


def ie_pps_ok(value: str) -> bool:
    """Ireland's PPS number: seven digits, a check letter (mod 23), maybe a second letter."""
    value = value.upper()
    if len(value) not in (8, 9) or not value[:7].isdigit() or not value[7:].isalpha():
        return False
    total = _weighted(value[:7], (8, 7, 6, 5, 4, 3, 2))
    if len(value) == 9 and value[8] != "W":
        total += (ord(value[8]) - 64) * 9
    return "WABCDEFGHIJKLMNOPQRSTUV"[total % 23] == value[7]


def be_national_number_ok(digits: str) -> bool:
    """Belgium's national register number: YYMMDD, serial, 97 minus mod 97 (with a 2 in
    front for births since 2000)."""
    if len(digits) != 11:
        return False
    check = int(digits[9:])
    return 97 - int(digits[:9]) % 97 == check or 97 - int("2" + digits[:9]) % 97 == check


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


def eg_national_id_ok(digits: str) -> bool:
    """Egypt's national ID: century (2 or 3), YYMMDD, governorate, serial, check."""
    return (
        len(digits) == 14
        and digits[0] in "23"
        and _date_ok(
            1800 + 100 * (ord(digits[0]) - 48) + int(digits[1:3]),
            int(digits[3:5]),
            int(digits[5:7]),
        )
    )


def id_nik_ok(digits: str) -> bool:
    """Indonesia's NIK: region, DDMMYY (day + 40 for women), serial."""
    if len(digits) != 16:
        return False
    dd = int(digits[6:8])
    return _yymmdd_ok(digits[10:12], digits[8:10], f"{dd - 40 if dd > 40 else dd:02d}")


def my_mykad_ok(digits: str) -> bool:
    """Malaysia's MyKad number: YYMMDD, place of birth, serial."""
    return len(digits) == 12 and _yymmdd_ok(digits[:2], digits[2:4], digits[4:6])


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


def es_nss_ok(digits: str) -> bool:
    """Spain's número de la Seguridad Social: province, number, two check digits (mod 97)."""
    if len(digits) != 12:
        return False
    number = int(digits[2:10])
    base = int(digits[:2]) * 10_000_000 + number if number < 10_000_000 else int(digits[:10])
    return base % 97 == int(digits[10:])


def lu_matricule_ok(digits: str) -> bool:
    """Luxembourg's matricule: YYYYMMDD, three digits, a Luhn and a Verhoeff check digit."""
    if len(digits) != 13 or not _date_ok(int(digits[:4]), int(digits[4:6]), int(digits[6:8])):
        return False
    return luhn_ok(digits[:11] + digits[11]) and verhoeff_ok(digits[:11] + digits[12])


def hu_tax_id_ok(digits: str) -> bool:
    """Hungary's adóazonosító jel: 8, the days since 1867-01-01, serial, mod-11 check."""
    if len(digits) != 10 or digits[0] != "8":
        return False
    check = _weighted(digits, range(1, 10)) % 11  # type: ignore[arg-type]
    return check != 10 and check == ord(digits[9]) - 48


def us_aba_ok(digits: str) -> bool:
    """A US bank routing (ABA) number: nine digits, weights 3, 7, 1 mod 10."""
    return len(digits) == 9 and digits[:2] != "00" and _weighted(digits, (3, 7, 1) * 3) % 10 == 0


def ir_melli_ok(digits: str) -> bool:
    """Iran's کد ملی (national code): ten digits, mod-11 check digit."""
    if len(digits) != 10 or len(set(digits)) == 1:
        return False
    r = _weighted(digits, range(10, 1, -1)) % 11  # type: ignore[arg-type]
    return (r if r < 2 else 11 - r) == ord(digits[9]) - 48


def md_idnp_ok(digits: str) -> bool:
    """Moldova's IDNP: 13 digits, weights 7, 3, 1 mod 10."""
    return len(digits) == 13 and digits[0] in "029" and _weighted(digits, (7, 3, 1) * 4) % 10 == ord(digits[12]) - 48  # fmt: skip


_PL_ID_LETTERS = {c: 10 + i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}


def pl_id_card_ok(value: str) -> bool:
    """Poland's dowód osobisty: three letters, a check digit, five digits."""
    value = value.upper()
    if len(value) != 9 or not value[:3].isalpha() or not value[3:].isdigit() or not value.isascii():  # fmt: skip
        return False
    values = [_PL_ID_LETTERS[c] for c in value[:3]] + _n(value[4:])
    total = sum(v * w for v, w in zip(values, (7, 3, 1, 7, 3, 1, 7, 3), strict=True))
    return total % 10 == ord(value[3]) - 48
