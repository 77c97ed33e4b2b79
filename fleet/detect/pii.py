"""Personal data: email addresses, phone numbers, payment cards, bank accounts and
national identifiers.

Three RE2 passes over the exact form of the text: one for identifiers that begin with a
letter or end with one (emails, UK National Insurance, Italian codice fiscale, Spanish
DNI/NIE, passport numbers after the word), one for IBANs, and one for runs of digits
(at least seven, joined by spaces, dots, dashes, slashes or brackets). A run of digits
is then cut into its groups and read in Python: each window of up to eight groups is
tried against the formats whose shape it has, and kept only when the format's check
digit agrees (Luhn, mod 97, Verhoeff, mod 11…) or, for the formats without one, when a
word before it says what it is ("SSN", "phone", "Aadhaar"…). Each group is the start of
at most eight windows, so the reading is linear in the run.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from . import checksums as ck
from .finding import Finding, mask
from .text import Pattern, View, compile, exact

# ------------------------------------------------------------------ letter-led identifiers

_IDS = Pattern(
    # 1 email (validated below)
    r"([A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9][A-Za-z0-9.\-]*\.[A-Za-z]{2,})"
    # 2 UK National Insurance number
    r"|\b([A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D])\b"
    # 3 Italian codice fiscale (digits may be replaced by letters: omocodia)
    r"|\b([A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z])\b"
    # 4 Spanish DNI / NIE
    r"|\b(\d{8}[ \-]?[A-Z]|[XYZ][ \-]?\d{7}[ \-]?[A-Z])\b"
    # 5 passport number after the word
    r"|(?i:(?:\b(?:passport|passeport|pasaporte|passaporto|passaporte|reisepass(?:nummer)?|pass-?nummer|paspoort(?:nummer)?|paszport|pasaport|passi|passnummer)|паспорт|护照|旅券|여권)(?:\s+(?:no|number|num|nr|n°|#|id))?(?:\s+(?:is|was))?\.?\s*[:#]?\s*)([A-Z0-9]{6,9})\b"
    # 6 driving licence number after the words
    r"|(?i:\bdriv(?:er'?s?|ing)[ \-]licen[cs]e(?:\s+(?:no|number|num|nr|#|id))?\.?\s*[:#]?\s*)([A-Z0-9][A-Z0-9\-]{4,15}[A-Z0-9])\b"
    # 7 date of birth after the words
    r"|(?i:(?:\b(?:DOB|date of birth|birth ?date|birthday|born on|geboren am|geburtsdatum|n[ée]e? le|date de naissance|fecha de nacimiento|data di nascita|data de nascimento)\b|\bD\.O\.B\.)(?:\s+(?:is|was))?\s*[:\-]?\s*)(\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}|\d{1,2}(?:st|nd|rd|th)? (?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* \d{4}|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* \d{1,2}(?:st|nd|rd|th)?,? \d{4})"
    # 8 Indian PAN after the word (the fourth letter says who holds it)
    r"|(?i:\bPAN(?:\s+(?:card|no|number|nr|#))?(?:\s+(?:is|was))?\.?\s*[:#]?\s*)([A-Z]{3}[ABCFGHJLPT][A-Z]\d{4}[A-Z])\b"
    # 9 a street address: a house number, capitalised words, a street type
    r"|\b(\d{1,5}[A-Z]?,?\s+(?:[A-Z][a-z']+\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Terrace|Crescent|Close|Parkway|Highway|Hwy)"
    r"|[A-Z][a-zäöüß]+(?:straße|strasse|weg|allee|platz|gasse|ring|damm|ufer|chaussee)\s+\d{1,4}[a-z]?"
    r"|\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:[Rr]ue|[Aa]venue|[Bb]oulevard|[Cc]hemin|[Aa]ll[ée]e|[Pp]lace|[Ii]mpasse|[Qq]uai|[Rr]oute)\s+(?:de la\s+|de\s+|du\s+|des\s+|d')?[A-Z][a-zéèêàç]+"
    r"|(?:Calle|Avenida|Avda\.|Paseo|Plaza|Via|Viale|Piazza|Corso|Rua|Travessa|Largo)\s+(?:de\s+(?:la\s+|las\s+|los\s+)?|del\s+|della\s+|delle\s+|di\s+|da\s+|do\s+|das\s+|dos\s+)?[A-Z][a-záéèàâãêíóôõúñç]+(?:\s+[A-Z][a-záéèàâãêíóôõúñç]+)?,?\s+\d{1,4}"
    r"|[A-Z][a-zäöü]+er\s(?:Straße|Strasse|Weg|Allee|Platz|Gasse|Ring|Damm|Chaussee)\s+\d{1,4}[a-z]?)\b"
    # 10 Mexico's CURP
    r"|\b([A-Z][AEIOUX][A-Z]{2}\d{6}[HMX][A-Z]{5}[0-9A-Z]\d)\b"
    # 11 Singapore's NRIC and FIN
    r"|\b([STFGM]\d{7}[A-Z])\b"
    # 12 Hong Kong's identity card, the check character in brackets
    r"|\b([A-Z]{1,2}\d{6} ?\([0-9A]\))"
    # 13 Finland's henkilötunnus
    r"|\b(\d{6}[\-+ABCDEFUVWXY]\d{3}[0-9A-Y])\b"
    # 14 Chile's RUT with dots, or with K for its check
    r"|\b(\d{1,2}\.\d{3}\.\d{3}-[0-9Kk]|\d{7,8}-[Kk])\b"
    # 15 Germany's Sozialversicherungsnummer (the letter: the birth name's initial)
    r"|\b(\d{2} ?\d{6} ?[A-Z] ?\d{2} ?\d)\b"
    # 16 Ghana's card; 17 Sri Lanka's old NIC
    r"|\b(GHA-\d{9}-\d)\b"
    r"|\b(\d{9}[VvXx])\b"
    # 18 a word naming an identity document (19: the number after it)
    r"|(?i:(?:^|[^\pL\pN])(personal ?ausweis(?:nummer)?|ausweis(?:nummer|-nr\.?)?|id[ \-]card|identity card|carte d'identit[ée]|carta d'identit[àa]|nhi|pps|ppsn|hkid|rfc|mbi|medicare(?: beneficiary)?|nic|kra pin|voter id|epic|身分證|身份證|身分證字號|taiwan id|national id(?: card)?|c[ée]dula|dow[óo]d(?: osobisty)?|nr dowodu|numer dowodu|cin)(?:\s+(?:no|number|num|nr|n°|#|id|card|nummer))?\.?(?:\s+(?:is|was))?\s*[:#]?\s*)"
    r"([A-Z0-9][A-Z0-9\-]{4,16}(?:\([0-9A]\)|[A-Z0-9]))"
    # 20 an address spelled out: john.doe(at)gmail.com, jane [at] corp [dot] de
    r"|\b([A-Za-z0-9][A-Za-z0-9._%+\-]*\s?(?:\(at\)|\[at\]|\{at\})\s?[A-Za-z0-9\-]+(?:\s?(?:\.|\(dot\)|\[dot\]|\{dot\})\s?[A-Za-z0-9\-]+)*\s?(?:\.|\(dot\)|\[dot\]|\{dot\})\s?[A-Za-z]{2,})"
)
_NINO_FIRST = set("ABCEGHJKLMNOPRSTWXYZ")
_NINO_SECOND = set("ABCEGHJKLMNPRSTWXYZ")
_NINO_BAD = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}
# File names with a resolution suffix (icon@2x.png) look like addresses.
_FILE_TLDS = {"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "pdf", "js", "css"}

_PLACEHOLDER_DOMAINS = {"example.com", "example.org", "example.net"}
_PLACEHOLDER_TLDS = {"test", "invalid", "localhost"}
# Mailbox names that stand for anyone's (at RFC 2606's documentation domains).
_PLACEHOLDER_LOCALS = {
    "user", "username", "user.name", "name", "email", "mail", "someone", "somebody", "anyone",
    "you", "your", "yourname", "your.name", "your.email", "me", "myname", "test", "tester",
    "foo", "bar", "baz", "example", "sample", "first.last", "firstname.lastname", "firstname",
    "lastname", "name.surname", "nobody", "noreply", "no-reply", "address", "user1", "user2",
}  # fmt: skip

_IBAN = Pattern(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")

# ------------------------------------------------------------------ digit runs

_RUN = Pattern(r"[+(]?\d(?:(?:[ .\-/]|\) ?| ?\()?\d){6,}[Xx]?\)?")

# Words that say what a number is, looked for just before it.
_CONTEXT = {
    "phone": compile(
        r"(?i)\bcall(?:\s+(?:me|us|him|her|them))?(?:\s+(?:at|on))?\s*[:\-]?\s*$|"
        r"\b(?:phone|tel|telephone|mobile|cell|cellphone|ring me|"
        r"reach me (?:at|on)|text me|sms|whats ?app|fax|dial|landline|telefon|t[eé]l[eé]phone|my number is|"
        r"tel[eé]fono|telefone|portable|m[oó]vil|cellulare|celular|handy|rufnummer)\b|"
        r"电话|電話|手机|手機|携帯|연락처|전화|휴대폰|โทร|телефон|тел\."
    ),
    "us-ssn": compile(r"(?i)\b(?:ssn|social security|soc\.? sec|social\b)"),
    "ca-sin": compile(r"(?i)\b(?:sin|social insurance|assurance sociale|nas)\b"),
    "in-aadhaar": compile(r"(?i)\b(?:aadhaa?r|uidai|uid)\b"),
    "uk-nhs": compile(r"(?i)\bnhs\b"),
    "nl-bsn": compile(r"(?i)\b(?:bsn|burgerservicenummer|sofinummer)\b"),
    "pl-pesel": compile(r"(?i)\bpesel\b"),
    "br-cpf": compile(r"(?i)\bcpf\b"),
}


# Every word given to _words, for one pattern that finds any of them (one boundary test
# for all: a union of each key's pattern costs its automaton 70 % more per search).
_SPACED: list[str] = []
_UNSPACED: list[str] = []


def _words(*words: str) -> str:
    """A pattern for any of ``words`` (RE2 syntax, matched case-insensitively) standing as
    words: no letter or digit just before or after (``\\b`` is ASCII-only in RE2, and many
    of these words are not); a word of a script written without spaces, anywhere."""
    spaced: list[str] = []
    unspaced: list[str] = []
    for word in words:
        word = unicodedata.normalize("NFKC", word)  # as exact() reads the text
        # Chinese, Japanese, Korean and Thai put no space around a word: no boundaries
        (unspaced if any("\u0e00" <= c <= "\u0e7f" or c >= "\u3000" for c in word) else spaced).append(word)  # fmt: skip
    _SPACED.extend(spaced)
    _UNSPACED.extend(unspaced)
    return _either(spaced, unspaced)


def _either(spaced: list[str], unspaced: list[str]) -> str:
    parts = [rf"(?:^|[^\pL\pN])(?:{'|'.join(spaced)})(?:[^\pL\pN]|$)"] if spaced else []
    parts += [f"(?:{'|'.join(unspaced)})"] if unspaced else []
    return "(?i)" + "|".join(parts)


# The words that name a national identifier in its own language (and in English), by the
# key the table below refers to. A number of the identifier's length and check digit is
# read as one when one of its words stands in the 40 characters before it.
_ID_WORDS = {
    "generic": _words(
        r"national ?id(?:entity)?(?: (?:no|number|card))?", r"identity (?:card|number|no)",
        r"id[ \-](?:no|nr|number|card)", r"citizen(?:ship)? (?:id|number)", r"personal (?:id|number|code)",
        r"n[uú]mero de identi(?:dad|ficaci[oó]n)", r"documento(?: de identidad)?", r"num[ée]ro d'identit[ée]",
        r"carta d'identit[àa]", r"identit(?:y|ät|é|à)", r"personal ?ausweis(?:nummer)?", r"ausweis(?:nummer|-nr)?",
        r"tax ?(?:id|payer|number)", r"social", r"insurance number", r"id",
    ),
    "no-fnr": _words(r"f[øo]dselsn(?:umme)?r(?:et|\.)?", r"personnummer", r"d-nummer", r"f\.nr\.?"),
    "dk-cpr": _words(r"cpr(?:-?n(?:umme)?r)?\.?", r"personnummer"),
    "is-kt": _words(r"kennitala", r"kt\."),
    "cz-rc": _words(r"r\. ?č\.?", r"r\. ?c\.", r"rodn[ée] [čc][íi]slo", r"rodn[ée]ho [čc][íi]sla", r"birth number"),
    "gr-amka": _words(r"αμκα", r"amka", r"α\.μ\.κ\.α\.?"),
    "gr-afm": _words(r"αφμ", r"afm", r"α\.φ\.μ\.?"),
    "at-svnr": _words(r"sv-?n(?:umme)?r\.?", r"vsnr", r"sozialversicherungs(?:nummer|-?nr)", r"versicherungsnummer", r"e-card"),
    "ch-ahv": _words(r"ahv(?:-?n(?:umme)?r)?", r"avs", r"oasi", r"ahvn13", r"sozialversicherungsnummer"),
    "ro-cnp": _words(r"(?-i:CNP)", r"cod numeric personal"),
    "bg-egn": _words(r"(?-i:EGN)", r"егн"),
    "jmbg": _words(r"jmbg", r"јмбг", r"embg", r"ембг", r"emšo", r"emso", r"mati[čc]ni broj", r"матични број"),
    "ee-ik": _words(r"isikukood", r"asmens kodas", r"personal code", r"a\.k\."),
    "lv-pk": _words(r"personas kods", r"p\.k\."),
    "hr-oib": _words(r"(?-i:OIB)"),
    "pl-nip": _words(r"(?-i:NIP)"),
    "hu-taj": _words(r"taj(?:-sz[áa]m)?", r"t[áa]rsadalombiztos[íi]t[áa]si"),
    "pt-nif": _words(r"nif", r"contribuinte", r"n[úu]mero fiscal", r"nipc"),
    "be-nn": _words(r"rijksregister(?:nummer)?", r"num[ée]ro national", r"national number", r"niss", r"insz", r"registre national"),
    "tr-tckn": _words(r"t\.? ?c\.?(?: kimlik)?(?: no)?", r"kimlik", r"tckn(?:o)?"),
    "il-tz": _words(r"teudat zehut", r"ת\.ז\.?", r"תעודת זהות", r"israeli id"),
    "za-id": _words(r"(?-i:SA ID)", r"south african id"),
    "kr-rrn": _words(r"주민등록번호", r"주민번호", r"resident registration(?: number)?", r"(?-i:RRN)"),
    "jp-mynumber": _words(r"my ?number", r"マイナンバー", r"個人番号"),
    "th-id": _words(r"บัตรประชาชน", r"เลขประจำตัวประชาชน", r"thai id"),
    "sa-id": _words(r"iqama", r"هوية", r"saudi id"),
    "ae-eid": _words(r"emirates id", r"(?-i:EID)"),
    "eg-nid": _words(r"الرقم القومي", r"الرقم القومى", r"egyptian id"),
    "id-nik": _words(r"(?-i:NIK)", r"ktp", r"e-ktp"),
    "my-mykad": _words(r"mykad", r"nric", r"i/?c(?: no)?", r"kad pengenalan"),
    "pk-cnic": _words(r"cnic", r"nicop", r"شناختی کارڈ"),
    "lk-nic": _words(r"(?-i:NIC)"),
    "bd-nid": _words(r"(?-i:NID)", r"জাতীয় পরিচয়পত্র"),
    "ng-nin": _words(r"(?-i:NIN)", r"(?-i:BVN)", r"nimc"),
    "vn-cccd": _words(r"cccd", r"cmnd", r"c[ăa]n c[ưu][ớo]c", r"ch[ứu]ng minh"),
    "ph-id": _words(r"(?-i:SSS)", r"(?-i:TIN)", r"philhealth", r"umid", r"philsys", r"psn"),
    "au-tfn": _words(r"(?-i:TFN)", r"tax file(?: number)?"),
    "au-medicare": _words(r"medicare"),
    "au-abn": _words(r"(?-i:ABN)", r"australian business number"),
    "nz-ird": _words(r"ird(?: number| no)?", r"inland revenue"),
    "mx-clabe": _words(r"clabe", r"cuenta"),
    "mx-nss": _words(r"(?-i:NSS)", r"imss", r"seguro social", r"seguridad social"),
    "ar-cuit": _words(r"cuit", r"cuil"),
    "cl-rut": _words(r"(?-i:RUT|RUN)", r"rol [úu]nico"),
    "co-cc": _words(
        r"c[ée]dula(?: de ciudadan[íi]a| de identidad)?", r"c\.c\.?", r"c\.i\.", r"dni", r"national id(?:entity)?(?: card| number| no)?",
        r"identity (?:card|number|no)", r"id[ \-](?:card|no|nr|number)", r"citizen(?:ship)? id", r"n[uú]mero de identi(?:dad|ficaci[oó]n)",
        r"documento de identidad", r"num[ée]ro d'identit[ée]", r"kitambulisho", r"huduma(?: namba)?", r"carte d'identit[ée]",
        r"(?-i:DPI)", r"(?-i:DUI)", r"carn[ée] de identidad", r"personal (?:number|no)", r"numri personal", r"პირადი ნომერი",
        r"الرقم الوطني", r"رقم الهوية", r"fayda", r"nida", r"(?-i:CIN)", r"omang",
    ),
    "ci": _words(r"c[ée]dula(?: de identidad)?", r"c\.i\."),
    "br-cnpj": _words(r"cnpj"),
    "br-pis": _words(r"(?-i:PIS)", r"pasep", r"(?-i:NIT)", r"(?-i:NIS)"),
    "br-cns": _words(r"(?-i:CNS)", r"cart[ãa]o (?:do )?sus"),
    "ru-snils": _words(r"снилс", r"snils"),
    "ru-inn": _words(r"инн", r"(?-i:INN)", r"іпн", r"рнокпп", r"rnokpp", r"ідентифікаційний код"),
    "kz-iin": _words(r"иин", r"(?-i:IIN)", r"жсн"),
    "us-ein": _words(r"(?-i:EIN)", r"employer identification(?: number)?", r"(?-i:FEIN)", r"(?-i:TIN)"),
    "uk-utr": _words(r"(?-i:UTR)", r"unique taxpayer reference"),
    "es-nss": _words(r"nuss", r"(?-i:NSS)", r"n[úu]mero de (?:la )?seguridad social", r"afiliaci[óo]n"),
    "lu-matricule": _words(r"matricule", r"num[ée]ro d'identification national", r"sozialversicherungsnummer"),
    "hu-tax": _words(r"ad[óo]azonos[íi]t[óo](?: jel)?", r"ad[óo]sz[áa]m"),
    "us-aba": _words(r"routing(?: number| no)?", r"aba", r"rtn"),
    "ca-health": _words(r"ohip", r"health card", r"carte sant[ée]", r"health number"),
    "ir-melli": _words(r"کد ?ملی", r"melli", r"national code"),
    "civil-id": _words(r"civil id", r"الرقم المدني", r"qid", r"qatar id"),
    "md-idnp": _words(r"idnp"),
    "bank-account": _words(
        r"bank account(?: number| no)?", r"sort code", r"kontonummer", r"konto(?:nr)?",
        r"blz", r"num[ée]ro de compte", r"n[úu]mero de cuenta", r"numero di conto", r"rekeningnummer", r"n[úu]mero da conta", r"bsb",
    ),
    "medical-record": _words(r"mrn", r"medical record(?: number| no)?", r"patient (?:id|number)", r"hospital number"),
}  # fmt: skip
_CONTEXT.update({key: compile(pattern) for key, pattern in _ID_WORDS.items()})


_ANY_CONTEXT = compile(
    "|".join(f"(?:{c.pattern})" for k, c in _CONTEXT.items() if k not in _ID_WORDS)
    + f"|(?:{_either(_SPACED, _UNSPACED)})"
)
# The identifiers (not phone numbers) whose word may follow the number: "590667362 (SSN)".
_AFTER = frozenset(_CONTEXT).difference(["phone"])


class _Context:
    """Which of the words in ``_CONTEXT`` stand just before a run of digits; only a
    window at the start of the run has them (inside it, digits come before)."""

    __slots__ = ("_after", "_before", "_seen")

    def __init__(self, before: str, after: str = "") -> None:
        self._before = before
        self._after = after  # a national identifier's word may follow it: "… (SSN)"
        self._seen: dict[str, bool] = {}

    def __call__(self, kind: str) -> bool:
        if kind not in self._seen:
            pattern = _CONTEXT[kind]
            if kind in _AFTER:
                found = bool(self._before and pattern.search(self._before)) or bool(
                    self._after and pattern.search(self._after)
                )
            else:
                found = bool(self._before and pattern.search(self._before[-32:]))
            self._seen[kind] = found
        return self._seen[kind]

    def any(self) -> bool:
        """Whether any word of ``_CONTEXT`` is there (or of ``_ID_WORDS`` just after)."""
        if "" not in self._seen:
            # one search of both sides: a phone word after the number opens the window to
            # reading, and the reading looks for it before the number only
            self._seen[""] = bool(_ANY_CONTEXT.search(f"{self._before}\n{self._after}"))
        return self._seen[""]


_NO_CONTEXT = _Context("")


@dataclass(frozen=True)
class _Id:
    """A national identifier made of digits: its kind, its lengths, its check, the keys
    of ``_ID_WORDS`` that name it, and the group shapes (with their separators) distinct
    enough to read without a word: ``(lens, separators)`` pairs."""

    kind: str
    lengths: tuple[int, ...]
    check: Callable[[str], bool]
    words: tuple[str, ...]
    shapes: tuple[tuple[tuple[int, ...], tuple[str, ...]], ...] = ()
    strong: bool = False  # a check digit and a date, or two check digits: "ID" is word enough


_NATIONAL: tuple[_Id, ...] = (
    _Id("ch-ahv", (13,), ck.ch_ahv_ok, ("ch-ahv",), (((3, 4, 4, 2), (".", ".", ".")), ((13,), ())), True),
    _Id("ar-cuit", (11,), ck.ar_cuit_ok, ("ar-cuit",), (((2, 8, 1), ("-", "-")),), True),
    _Id("cz-rodne-cislo", (10,), ck.cz_rodne_cislo_ok, ("cz-rc",), (((6, 4), ("/",)),), True),
    _Id("cz-rodne-cislo", (9,), ck.cz_rodne_cislo_ok, ("cz-rc",), (((6, 3), ("/",)),)),
    _Id("kr-rrn", (13,), ck.kr_rrn_ok, ("kr-rrn",), (((6, 7), ("-",)),), True),
    # numbers issued since October 2020 carry no check digit: under its word, the date will do
    _Id("kr-rrn", (13,), ck.kr_rrn_date_ok, ("kr-rrn",)),
    _Id("br-cnpj", (14,), ck.br_cnpj_ok, ("br-cnpj",), (((2, 3, 3, 4, 2), (".", ".", "/", "-")),), True),
    _Id("be-national-number", (11,), ck.be_national_number_ok, ("be-nn",), (((2, 2, 2, 3, 2), (".", ".", "-", ".")), ((6, 3, 2), ("-", "."))), True),
    _Id("ru-snils", (11,), ck.ru_snils_ok, ("ru-snils",), (((3, 3, 3, 2), ("-", "-", " ")),), True),
    _Id("my-mykad", (12,), ck.my_mykad_ok, ("my-mykad",), (((6, 2, 4), ("-", "-")),)),
    _Id("pk-cnic", (13,), lambda d: True, ("pk-cnic",), (((5, 7, 1), ("-", "-")),)),
    _Id("ae-emirates-id", (15,), lambda d: d.startswith("784") and ck.luhn_ok(d), ("ae-eid",), (((3, 4, 7, 1), ("-", "-", "-")),), True),
    _Id("th-id", (13,), ck.th_id_ok, ("th-id",), (((1, 4, 5, 2, 1), ("-", "-", "-", "-")), ((1, 4, 5, 2, 1), (" ", " ", " ", " ")))),
    _Id("cl-rut", (8, 9), ck.cl_rut_ok, ("cl-rut",), (((2, 3, 3, 1), (".", ".", "-")), ((1, 3, 3, 1), (".", ".", "-")))),
    _Id("uy-ci", (7, 8), ck.uy_ci_ok, ("ci",), (((1, 3, 3, 1), (".", ".", "-")),)),
    _Id("no-fodselsnummer", (11,), ck.no_fnr_ok, ("no-fnr",), (((6, 5), (" ",)),), True),
    _Id("dk-cpr", (10,), ck.dk_cpr_ok, ("dk-cpr",)),
    _Id("is-kennitala", (10,), ck.is_kennitala_ok, ("is-kt",), (), True),
    _Id("gr-amka", (11,), ck.gr_amka_ok, ("gr-amka",), (), True),
    _Id("gr-afm", (9,), ck.gr_afm_ok, ("gr-afm",)),
    _Id("at-svnr", (10,), ck.at_svnr_ok, ("at-svnr",), (((4, 6), (" ",)),)),
    _Id("ro-cnp", (13,), ck.ro_cnp_ok, ("ro-cnp",), (), True),
    _Id("bg-egn", (10,), ck.bg_egn_ok, ("bg-egn",), (), True),
    _Id("jmbg", (13,), ck.jmbg_ok, ("jmbg",), (), True),
    _Id("ee-isikukood", (11,), ck.ee_isikukood_ok, ("ee-ik",), (), True),
    _Id("lv-personas-kods", (11,), ck.lv_personas_kods_ok, ("lv-pk",), (((6, 5), ("-",)),)),
    _Id("hr-oib", (11,), ck.hr_oib_ok, ("hr-oib",)),
    _Id("pl-nip", (10,), ck.pl_nip_ok, ("pl-nip",), (((3, 3, 2, 2), ("-", "-", "-")),)),
    _Id("hu-taj", (9,), ck.hu_taj_ok, ("hu-taj",)),
    _Id("pt-nif", (9,), ck.pt_nif_ok, ("pt-nif",)),
    _Id("tr-tckn", (11,), ck.tr_tckn_ok, ("tr-tckn",), (), True),
    _Id("il-teudat-zehut", (9,), ck.luhn_ok, ("il-tz",)),
    _Id("za-id", (13,), ck.za_id_ok, ("za-id",), (), True),
    _Id("jp-my-number", (12,), ck.jp_my_number_ok, ("jp-mynumber",)),
    _Id("sa-national-id", (10,), lambda d: d[0] in "12" and ck.luhn_ok(d), ("sa-id",)),
    _Id("eg-national-id", (14,), ck.eg_national_id_ok, ("eg-nid",)),
    _Id("id-nik", (16,), ck.id_nik_ok, ("id-nik",)),
    _Id("lk-nic", (12,), ck.lk_nic_ok, ("lk-nic",)),
    _Id("bd-nid", (10, 13, 17), lambda d: True, ("bd-nid",)),
    _Id("ng-nin", (11,), lambda d: True, ("ng-nin",)),
    _Id("vn-cccd", (9, 12), lambda d: True, ("vn-cccd",)),
    _Id("ph-id", (9, 10, 12), lambda d: True, ("ph-id",), (((2, 7, 1), ("-", "-")), ((4, 4, 4), ("-", "-"))) ),
    _Id("au-tfn", (8, 9), ck.au_tfn_ok, ("au-tfn",)),
    _Id("au-medicare", (10, 11), ck.au_medicare_ok, ("au-medicare",), (((4, 5, 1), (" ", " ")), ((4, 5, 1, 1), (" ", " ", " ")))),
    _Id("au-abn", (11,), ck.au_abn_ok, ("au-abn",), (((2, 3, 3, 3), (" ", " ", " ")),)),
    _Id("nz-ird", (8, 9), ck.nz_ird_ok, ("nz-ird",)),
    _Id("mx-clabe", (18,), ck.mx_clabe_ok, ("mx-clabe",)),
    _Id("mx-nss", (11,), ck.luhn_ok, ("mx-nss",)),
    _Id("cl-rut", (8, 9), ck.cl_rut_ok, ("cl-rut",)),
    _Id("ec-cedula", (10,), ck.ec_cedula_ok, ("ci",)),
    _Id("national-id", tuple(range(6, 19)), lambda d: True, ("co-cc",)),
    _Id("bh-cpr", (9,), lambda d: True, ("dk-cpr",)),
    _Id("br-pis", (11,), ck.br_pis_ok, ("br-pis",)),
    _Id("br-cns", (15,), ck.br_cns_ok, ("br-cns",)),
    _Id("ru-inn", (10, 12), ck.ru_inn_ok, ("ru-inn",)),
    _Id("ua-rnokpp", (10,), ck.ua_rnokpp_ok, ("ru-inn",)),
    _Id("kz-iin", (12,), ck.kz_iin_ok, ("kz-iin",), (), True),
    _Id("es-nss", (12,), ck.es_nss_ok, ("es-nss",), (((2, 8, 2), ("/", "/")),)),
    _Id("lu-matricule", (13,), ck.lu_matricule_ok, ("lu-matricule",), (), True),
    _Id("hu-tax-id", (10,), ck.hu_tax_id_ok, ("hu-tax",)),
    _Id("us-aba-routing", (9,), ck.us_aba_ok, ("us-aba",)),
    _Id("ca-health-card", (10,), ck.luhn_ok, ("ca-health",)),
    _Id("ir-melli-code", (10,), ck.ir_melli_ok, ("ir-melli",), (((3, 6, 1), ("-", "-")),)),
    _Id("civil-id", (11, 12), lambda d: True, ("civil-id",)),
    _Id("md-idnp", (13,), ck.md_idnp_ok, ("md-idnp",)),
    _Id("bank-account", tuple(range(6, 19)), lambda d: True, ("bank-account",)),
    _Id("medical-record", tuple(range(6, 11)), lambda d: True, ("medical-record",)),
    _Id("us-ein", (9,), lambda d: d[:2] not in ("00", "07", "08", "09", "17", "18", "19", "28", "29", "49", "69", "70", "78", "79", "89", "96", "97"), ("us-ein",), (((2, 7), ("-",)),)),
    _Id("uk-utr", (10,), lambda d: "21987654321"[ck._weighted(d[1:], (6, 7, 8, 9, 10, 5, 4, 3, 2)) % 11] == d[0], ("uk-utr",)),
)  # fmt: skip
_BY_LENGTH: dict[int, list[_Id]] = {}
for _entry in _NATIONAL:
    for _length in _entry.lengths:
        _BY_LENGTH.setdefault(_length, []).append(_entry)
_SHAPED: dict[tuple[tuple[int, ...], tuple[str, ...]], list[_Id]] = {}
for _entry in _NATIONAL:
    for _shape in _entry.shapes:
        _SHAPED.setdefault(_shape, []).append(_entry)


def _national(ctx: _Context, digits: str, lens: tuple[int, ...], seps: tuple[str, ...]) -> str | None:  # fmt: skip
    """The national identifier these digits are: one whose shape (groups and separators)
    is its own, or whose word stands by them, and whose check agrees."""
    for entry in _SHAPED.get((lens, seps), ()):
        if entry.check(digits):
            return entry.kind
    if not ctx.any():  # one search says whether any word is there to look up one by one
        return None
    for entry in _BY_LENGTH.get(len(digits), ()):
        named = any(ctx(w) for w in entry.words) or (entry.strong and ctx("generic"))
        if named and entry.check(digits):
            return entry.kind
    return None


def _card(digits: str, lens: tuple[int, ...], seps: tuple[str, ...]) -> bool:
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1 or digits[0] not in "23456":
        return False
    if len(lens) > 1:
        if len(set(seps)) != 1 or seps[0] not in (" ", "-"):
            return False
        if lens not in ((4, 6, 5), (4, 6, 4)) and not (
            all(n == 4 for n in lens[:-1]) and 1 <= lens[-1] <= 4
        ):
            return False
    return ck.luhn_ok(digits)


def _ssn_valid(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and group != "00" and serial != "0000"


def _phone(ctx: _Context, lead: str, digits: str, lens: tuple[int, ...], seps: tuple[str, ...]) -> bool:  # fmt: skip
    n = len(digits)
    if lead == "+":
        return 8 <= n <= 15 and digits[0] != "0" and len(lens) <= 7
    if any("/" in s for s in seps):
        return False
    if digits.startswith("00") and 10 <= n <= 15 and len(lens) > 1 and digits[2] != "0":
        return True
    if lens == (3, 3, 4) and (lead == "(" or (len(set(seps)) == 1 and seps[0] in ("-", "."))):
        return True
    if (
        lens == (3, 3, 4)
        and seps == (" ", " ")
        and digits[0] in "23456789"
        and digits[3] in "23456789"
    ):
        return True  # a North American number: area code and exchange never start with 0 or 1
    if lens == (1, 3, 3, 4) and digits[0] == "1" and len(set(seps)) == 1 and seps[0] in "-. ":
        return True
    if digits[0] == "0" and digits[1] != "0" and 10 <= n <= 12 and len(lens) > 1:
        return (
            len({s.strip(" )") for s in seps}) == 1
        )  # one kind of separator: 020 7946 0958, (02) 9876 5432
    if lens == (3, 2, 2, 2) and digits[0] in "679" and len(set(seps)) == 1:  # Spain
        return True
    return 7 <= n <= 15 and ctx("phone")


def _classify(
    ctx: _Context,
    lead: str,
    digits: str,
    lens: tuple[int, ...],
    seps: tuple[str, ...],
    tail: str,
) -> str | None:
    n = len(digits)
    same = len(set(seps)) <= 1
    if tail:  # only the Chinese resident id ends in X
        return "cn-resident-id" if n == 17 and ck.cn_resident_id_ok(digits + "X") else None
    if lead != "+":
        if n == 18 and len(lens) == 1 and ck.cn_resident_id_ok(digits):
            return "cn-resident-id"
        if _card(digits, lens, seps):
            return "card-number"
        if n == 9 and same:
            if lens == (3, 2, 4) and (seps[0] == "-" or ctx("us-ssn")) and _ssn_valid(digits):
                return "us-itin" if digits[0] == "9" else "us-ssn"
            if lens == (9,) and ctx("us-ssn") and _ssn_valid(digits):
                return "us-ssn"
            if (lens == (3, 3, 3) or ctx("ca-sin")) and digits[0] != "8" and ck.luhn_ok(digits):
                return "ca-sin"
            if ctx("nl-bsn") and ck.nl_bsn_ok(digits):
                return "nl-bsn"
        # One in ten numbers passes Verhoeff: the word "Aadhaar" must be there too.
        if (
            n == 12
            and same
            and digits[0] in "23456789"
            and ctx("in-aadhaar")
            and ck.verhoeff_ok(digits)
        ):
            return "in-aadhaar"
        if n == 11 and (lens == (11,) or lens == (2, 3, 3, 3)) and ck.de_tax_id_ok(digits):
            return "de-tax-id"
        if n == 11 and lens == (3, 3, 3, 2) and seps[:2] == (".", ".") and seps[2] == "-":
            return "br-cpf" if ck.br_cpf_ok(digits) else None
        if n == 11 and lens == (11,) and ctx("br-cpf") and ck.br_cpf_ok(digits):
            return "br-cpf"
        if n == 11 and ctx("pl-pesel") and ck.pl_pesel_ok(digits):
            return "pl-pesel"
        if n == 15 and (lens == (15,) or lens == (1, 2, 2, 2, 3, 3, 2)) and ck.fr_insee_ok(digits):
            return "fr-insee"
        if lens in ((6, 4), (8, 4)) and seps[0] in ("-", "+") and ck.se_personnummer_ok(digits):
            return "se-personnummer"
        if n == 10 and ctx("uk-nhs") and ck.uk_nhs_ok(digits):
            return "uk-nhs"
        kind = _national(ctx, digits, lens, seps)
        if kind is not None:
            return kind
    if _phone(ctx, lead, digits, lens, seps):
        return "phone"
    return None


def _date_like(lens: tuple[int, ...], seps: tuple[str, ...]) -> bool:
    return (
        len(lens) >= 3
        and seps[0] == seps[1]
        and seps[0] in "-./"
        and (
            (lens[0] == 4 and lens[1] <= 2 and lens[2] <= 2)
            or (lens[0] <= 2 and lens[1] <= 2 and lens[2] in (2, 4))
        )
    )


# Group shapes a format may take with no + or 0 in front and no word before it.
_SHAPES = frozenset(
    [(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 4, 4, 1), (4, 4, 4, 2), (4, 4, 4, 3), (4, 6, 5)]
    + [(4, 6, 4), (3, 2, 4), (3, 3, 3), (3, 3, 4), (1, 3, 3, 4), (2, 3, 3, 3), (3, 3, 3, 2)]
    + [(1, 2, 2, 2, 3, 3, 2), (6, 4), (8, 4), (3, 2, 2, 2)]
    + [(n,) for n in (11, 13, 14, 15, 16, 17, 18, 19)]
)
_SHAPES = _SHAPES | {lens for entry in _NATIONAL for lens, _ in entry.shapes}
# Python's engine for one character class repeated: linear (no alternation to retry).
_DIGITS = re.compile("[0-9]+")
_TWO_DIGITS = re.compile("[0-9]{2}")


# Words that name the number after them as a thing's, not a person's.
_THING_WORDS = frozenset(
    [
        "ticket",
        "order",
        "code",
        "case",
        "ref",
        "reference",
        "invoice",
        "serial",
        "sku",
        "po",
        "tracking",
        "product",
        "part",
        "item",
        "job",
        "build",
        "version",
        "error",
        "lot",
        "batch",
        "incident",
        "request",
        "issue",
        "model",
        "article",
    ]
)
_NUMBER_WORDS = frozenset(("#", "no", "no.", "nr", "nr.", "number", "id"))


def _a_thing_before(text: str, start: int) -> bool:
    """Whether the words just before ``start`` say the number is a thing's ("ticket #",
    "product code", "order no."): a few string operations on the 40 characters before."""
    words = text[max(0, start - 40) : start].replace("#", " # ").replace(":", " ").split()
    for _ in range(2):  # "order ID no."
        if words and words[-1].lower() in _NUMBER_WORDS:
            words.pop()
    return bool(words) and words[-1].lower() in _THING_WORDS


# Below this, the scripts that separate words with spaces (Latin, Greek, Cyrillic,
# Armenian): a number against one of their letters is part of a longer token.
_SPACELESS = "\u0590"


def _read_run(view: View, start: int, end: int, out: list[tuple[int, int, str]]) -> None:
    """Cut a run of digits into groups and read each window of up to eight groups that
    has the shape of a format (or a word before it saying what it is), longest first."""
    text = view.text
    # A run glued to letters is part of an identifier, a hash or a tracking number
    # (SN-8842-1190, build_20240318).
    # Scripts written without spaces (Chinese, Japanese, Korean, Thai…) put a number right
    # after the word that names it: "マイナンバーは480383056766です".
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    if (before.isalnum() and before < _SPACELESS) or (after.isalnum() and after < _SPACELESS):
        return
    if start > 1 and text[start - 1] in "-_/#." and text[start - 2].isalpha():
        return
    run = text[start:end]
    if not _TWO_DIGITS.search(run):
        return  # every format has a group of two digits or more
    if run[0] != "+" and _a_thing_before(text, start):
        return  # "ticket #883-221-4410", "product code 0043-2210-7789-1": the shop's numbers
    groups = [m.span() for m in _DIGITS.finditer(run)]
    sizes = [b - a for a, b in groups]
    count = len(groups)
    first = _Context(text[max(0, start - 40) : start], text[end : end + 24])
    i = 0
    while i < count:
        g0 = groups[i][0]
        lead = run[g0 - 1] if g0 > 0 and run[g0 - 1] in "+(" else ""
        if sizes[i] == 1 and not lead and not (i + 1 < count and sizes[i + 1] >= 2):
            i += 1
            continue
        if i > 0 and "." in run[groups[i - 1][1] : g0]:
            # Nothing starts after a dot inside a run: "build 10.0.19045.3693" holds no
            # phone number "0.19045.3693", a version string goes on from its first part.
            i += 1
            continue
        ctx = first if i == 0 else _NO_CONTEXT
        found: tuple[int, str] | None = None
        ends: list[int] = []
        n = 0
        for j in range(i, min(i + 8, count)):
            n += sizes[j]
            if n > 19 or (j > i and groups[j][0] - groups[j - 1][1] > 2):
                break
            if n >= 7:
                ends.append(j)
        for j in reversed(ends):
            lens = tuple(sizes[i : j + 1])
            digits = "".join(run[a:b] for a, b in groups[i : j + 1])
            if not (lead or digits[0] == "0" or lens in _SHAPES or ctx.any()):
                continue
            seps = tuple(run[groups[k][1] : groups[k + 1][0]] for k in range(i, j))
            if lead != "+" and _date_like(lens, seps):
                # "85.07.30-033.28" is a Belgian national number, not a date and a time
                kind = _national(ctx, digits, lens, seps) if len(lens) > 3 else None
                if kind is not None:
                    found = (j, kind)
                    break
                continue
            if lead == "(" and not (seps and seps[0].startswith(")")):
                lead = ""
            tail = "X" if j == count - 1 and run[-1:] in ("X", "x") else ""
            kind = _classify(ctx, lead, digits, lens, seps, tail)
            if kind is not None:
                found = (j, kind)
                break
        if found is None:
            i += 1
            continue
        j, kind = found
        s = g0 - (1 if lead or (g0 > 0 and run[g0 - 1] in "+(") else 0)
        e = groups[j][1] + (
            1 if kind == "cn-resident-id" and run[groups[j][1] :][:1] in "Xx" else 0
        )
        out.append((start + s, start + e, kind))
        i = j + 1


# ------------------------------------------------------------------ the detector


def _email_ok(view: View, s: int, e: int) -> bool:
    value = view.text[s:e]
    local, _, domain = value.rpartition("@")
    if local.startswith(".") or local.endswith(".") or ".." in value:
        return False
    labels = domain.split(".")
    if any(not label or label.startswith("-") or label.endswith("-") for label in labels):
        return False
    tld = labels[-1].lower()
    if tld in _PLACEHOLDER_TLDS or (
        domain.lower() in _PLACEHOLDER_DOMAINS and local.lower() in _PLACEHOLDER_LOCALS
    ):
        return False  # a stand-in: user@example.com, name@example.org, anyone@host.test
    if len(tld) > 24 or (tld in _FILE_TLDS and labels[0][:1].isdigit()):
        return False
    return view.text[e : e + 1] != ":"  # git@github.com:org/repo is a remote, not a mailbox


def _nino_ok(value: str) -> bool:
    compact = value.replace(" ", "")
    prefix = compact[:2]
    if prefix == "QQ":  # HMRC's documented example prefix
        return True
    return prefix[0] in _NINO_FIRST and prefix[1] in _NINO_SECOND and prefix not in _NINO_BAD


_CHECKS: dict[int, tuple[str, Callable[[str], bool]]] = {
    2: ("uk-nino", _nino_ok),
    3: ("it-codice-fiscale", lambda v: True),  # the shape alone is distinctive enough
    4: ("es-dni", lambda v: ck.es_dni_ok(v.replace(" ", "").replace("-", ""))),
    5: ("passport", lambda v: any(c.isdigit() for c in v)),
    6: ("driving-licence", lambda v: any(c.isdigit() for c in v)),
    7: ("date-of-birth", lambda v: True),
    8: ("in-pan", lambda v: True),
    9: ("street-address", lambda v: True),
    10: ("mx-curp", ck.mx_curp_ok),
    11: ("sg-nric", ck.sg_nric_ok),
    12: ("hk-hkid", ck.hk_hkid_ok),
    13: ("fi-hetu", ck.fi_hetu_ok),
    14: ("cl-rut", ck.cl_rut_ok),
    15: ("de-svnr", ck.de_svnr_ok),
    16: ("gh-card", lambda v: True),
    17: ("lk-nic", ck.lk_nic_ok),
    20: ("email", lambda v: True),
}
_DOCUMENT = 18  # the group of a document's word; its number is the next group

_GERMAN_ID = compile(r"[CFGHJKLMNPRTVWXYZ][CFGHJKLMNPRTVWXYZ0-9]{8}[0-9]?")
_RFC = compile(r"[A-Z&]{3,4}[0-9]{6}[A-Z0-9]{3}")
_MBI = compile(r"[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9][AC-HJKMNP-RT-Y]{2}[0-9]{2}")  # fmt: skip
_NHI_NEW = compile(r"[A-HJ-NP-Z]{3}[0-9]{2}[A-HJ-NP-Z]{2}")
_KRA = compile(r"[AP][0-9]{9}[A-Z]")
_EPIC = compile(r"[A-Z]{3}[0-9]{7}")
_CIN = compile(r"[A-Z]{1,2}[0-9]{5,6}")
_VE_CEDULA = compile(r"[VE][0-9]{6,9}")


def _document(word: str, value: str) -> str | None:
    """The kind of the number after a document's word, if it has that document's form."""
    word = word.lower()
    compact = value.replace("-", "")
    digits = sum(c.isdigit() for c in compact)
    if word.startswith(("personal", "ausweis")):
        return "de-id-card" if _GERMAN_ID.fullmatch(compact) else None
    if word in ("nhi",):
        return "nz-nhi" if ck.nz_nhi_ok(compact) or _NHI_NEW.fullmatch(compact) else None
    if word in ("pps", "ppsn"):
        return "ie-pps" if ck.ie_pps_ok(compact) else None
    if word == "hkid":
        return "hk-hkid" if ck.hk_hkid_ok(compact) else None
    if word == "rfc":
        ok = _RFC.fullmatch(compact) and ck._yymmdd_ok(compact[-9:-7], compact[-7:-5], compact[-5:-3])  # fmt: skip
        return "mx-rfc" if ok else None
    if word.startswith(("mbi", "medicare")):
        return "us-mbi" if _MBI.fullmatch(compact) else None
    if word == "nic":
        return "lk-nic" if ck.lk_nic_ok(compact) else None
    if word == "kra pin":
        return "ke-kra-pin" if _KRA.fullmatch(compact) else None
    if word in ("voter id", "epic"):
        return "in-voter-id" if _EPIC.fullmatch(compact) else None
    if word in ("身分證", "身份證"):
        return "tw-id" if ck.tw_id_ok(compact) else "hk-hkid" if ck.hk_hkid_ok(compact) else None
    if word.startswith(("dow", "nr dow", "numer dow")):
        return "pl-id-card" if ck.pl_id_card_ok(compact) else None
    if word == "cin":
        return "ma-cin" if _CIN.fullmatch(compact) else None
    if word.startswith("c") and word.endswith("dula"):
        return "ve-cedula" if _VE_CEDULA.fullmatch(compact) else None
    # an identity card: its number has letters and digits or is all digits, mostly digits
    if 6 <= len(compact) <= 12 and digits >= 5 and not _MBI.fullmatch(compact):
        return "id-card" if ck.tw_id_ok(compact) or digits >= len(compact) - 2 else None
    return None


def scan_pii(text: str) -> list[Finding]:
    if len(text) < 6:
        return []
    view = exact(text)
    spans: list[tuple[int, int, str]] = []
    for hit in _IDS.finditer(view):
        group = hit.group
        s, e = hit.span(group)
        if group == 1:
            if _email_ok(view, s, e):
                spans.append((s, e, "email"))
            continue
        if group == _DOCUMENT:
            s, e = hit.span(group + 1)
            kind = _document(hit.text(group), view.text[s:e])
            if kind is not None:
                spans.append((s, e, kind))
            continue
        kind, check = _CHECKS[group]
        value = view.text[s:e]
        if check(value):
            if kind == "es-dni" and value[0] in "XYZ":
                kind = "es-nie"
            spans.append((s, e, kind))
        elif kind == "es-dni" and value[-1] == "K" and "-" in value and ck.cl_rut_ok(value):
            spans.append((s, e, "cl-rut"))  # Chile's RUT, K its check: Spain's shape
    for hit in _IBAN.finditer(view):
        s, e = hit.span()
        compact = view.text[s:e].replace(" ", "")
        length = ck.IBAN_LENGTHS.get(compact[:2], len(compact))
        if len(compact) < length:
            continue
        # Cut the match after the country's length of characters.
        count, cut = 0, s
        for pos in range(s, e):
            if view.text[pos] != " ":
                count += 1
                if count == length:
                    cut = pos + 1
                    break
        if ck.iban_ok(view.text[s:cut]):
            spans.append((s, cut, "iban"))
    for hit in _RUN.finditer(view):
        s, e = hit.span()
        _read_run(view, s, e, spans)
    spans.sort(key=lambda t: (t[0], -t[1]))
    found: list[Finding] = []
    last_end = -1
    for s, e, kind in spans:
        if s < last_end:
            continue
        last_end = e
        os, oe = view.original(s, e)
        value = text[os:oe]
        found.append(Finding("pii", kind, os, oe, mask("".join(value.split()))))
    return found
