"""Check digits of the national identifiers that :mod:`fleet.detect.national` reads from
their digits alone (with the word that names them, or a shape of their own).

Each takes the identifier without separators and runs in time linear in its input. Dates
inside an identifier are checked too: a check digit alone lets one number in ten or
eleven through, a birth date that exists and a check digit that agrees far fewer. Luhn,
IBAN, the checks the rest of the PII detector applies (some of which the table uses too)
and the helpers shared with them are in :mod:`fleet.detect.checksums`.
"""

from __future__ import annotations

from .checksums import _date_ok, _n, _weighted, _yymmdd_ok, luhn_ok, verhoeff_ok


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


def mx_clabe_ok(digits: str) -> bool:
    """Mexico's CLABE (bank account): 18 digits, weights 3, 7, 1 mod 10."""
    if len(digits) != 18:
        return False
    total = sum((ord(c) - 48) * (3, 7, 1)[i % 3] % 10 for i, c in enumerate(digits[:17]))
    return (10 - total % 10) % 10 == ord(digits[17]) - 48


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


def be_national_number_ok(digits: str) -> bool:
    """Belgium's national register number: YYMMDD, serial, 97 minus mod 97 (with a 2 in
    front for births since 2000)."""
    if len(digits) != 11:
        return False
    check = int(digits[9:])
    return 97 - int(digits[:9]) % 97 == check or 97 - int("2" + digits[:9]) % 97 == check


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
