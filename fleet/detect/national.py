"""National identifiers: the words that say what a run of digits is, the table of the
identifiers made of digits (their lengths, checks, the words that name each in its own
language and in English, the group shapes and separators distinct enough to read without
a word), and the numbers read after an identity document's word.

:mod:`fleet.detect.pii` finds the runs of digits and the documents' words; this module
says which identifier a window of digits is (:func:`_national`), and whether the value
after a document's word has that document's form (:func:`_document`). The check digits
are in :mod:`fleet.detect.checksums_national` (and, for those the rest of the detector
shares, :mod:`fleet.detect.checksums`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import checksums as ck
from . import checksums_national as ckn
from .text import compile

# Words that say what a number is, looked for just before it.
_CONTEXT = {
    "phone": compile(
        r"(?i)\bcall(?:\s+(?:me|us|him|her|them))?(?:\s+(?:at|on))?\s*[:\-]?\s*$|"
        r"\b(?:phone|tel|telephone|mobile|cell|cellphone|ring me|"
        r"reach me (?:at|on)|text me|sms|whats ?app|fax|dial|landline|telefon|t[eé]l[eé]phone|my number is|"
        r"tel[eé]fono|telefone|portable|m[oó]vil|cellulare|celular|handy|rufnummer|mobil|gsm|tlf|"
        r"puhelin|matkapuhelin|telefonsz[aá]m|cep telefonu|telepon|ponsel|nomor hp|sđt|điện thoại|"
        r"κινητό|τηλέφωνο|τηλ)\b|"
        r"电话|電話|手机|手機|携帯|연락처|전화|휴대폰|โทร|телефон|тел\.|мобільн|мобилн|"
        r"मोबाइल|फ़ोन|फोन|दूरभाष|মোবাইল|ফোন|موبائل|فون|تلفن|همراه|هاتف|جوال|טלפון|נייד"
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
        r"documento de identidad", r"num[ée]ro d'identit[ée]", r"kitambulisho", r"huduma namba", r"carte d'identit[ée]",
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


class _Compiled(dict[str, Any]):
    """The words' patterns, each compiled the first time a number of its kind is read:
    every one holds Unicode letter classes, and all of them compiled at import would
    cost the process some 8 MB it may never use."""

    def __missing__(self, key: str) -> Any:
        value = self[key] = compile(_ID_WORDS[key])
        return value


_CONTEXT = _Compiled(_CONTEXT)


_ANY_CONTEXT = compile(
    "|".join(f"(?:{c.pattern})" for k, c in _CONTEXT.items() if k not in _ID_WORDS)
    + f"|(?:{_either(_SPACED, _UNSPACED)})"
)
# The identifiers (not phone numbers) whose word may follow the number: "590667362 (SSN)".
_AFTER = frozenset(_CONTEXT).union(_ID_WORDS).difference(["phone"])


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
    _Id("ch-ahv", (13,), ckn.ch_ahv_ok, ("ch-ahv",), (((3, 4, 4, 2), (".", ".", ".")), ((13,), ())), True),
    _Id("ar-cuit", (11,), ckn.ar_cuit_ok, ("ar-cuit",), (((2, 8, 1), ("-", "-")),), True),
    _Id("cz-rodne-cislo", (10,), ckn.cz_rodne_cislo_ok, ("cz-rc",), (((6, 4), ("/",)),), True),
    _Id("cz-rodne-cislo", (9,), ckn.cz_rodne_cislo_ok, ("cz-rc",), (((6, 3), ("/",)),)),
    _Id("kr-rrn", (13,), ckn.kr_rrn_ok, ("kr-rrn",), (((6, 7), ("-",)),), True),
    # numbers issued since October 2020 carry no check digit: under its word, the date will do
    _Id("kr-rrn", (13,), ckn.kr_rrn_date_ok, ("kr-rrn",)),
    _Id("br-cnpj", (14,), ckn.br_cnpj_ok, ("br-cnpj",), (((2, 3, 3, 4, 2), (".", ".", "/", "-")),), True),
    _Id("be-national-number", (11,), ckn.be_national_number_ok, ("be-nn",), (((2, 2, 2, 3, 2), (".", ".", "-", ".")), ((6, 3, 2), ("-", "."))), True),
    _Id("ru-snils", (11,), ckn.ru_snils_ok, ("ru-snils",), (((3, 3, 3, 2), ("-", "-", " ")),), True),
    _Id("my-mykad", (12,), ckn.my_mykad_ok, ("my-mykad",), (((6, 2, 4), ("-", "-")),)),
    _Id("pk-cnic", (13,), lambda d: True, ("pk-cnic",), (((5, 7, 1), ("-", "-")),)),
    _Id("ae-emirates-id", (15,), lambda d: d.startswith("784") and ck.luhn_ok(d), ("ae-eid",), (((3, 4, 7, 1), ("-", "-", "-")),), True),
    _Id("th-id", (13,), ckn.th_id_ok, ("th-id",), (((1, 4, 5, 2, 1), ("-", "-", "-", "-")), ((1, 4, 5, 2, 1), (" ", " ", " ", " ")))),
    _Id("cl-rut", (8, 9), ck.cl_rut_ok, ("cl-rut",), (((2, 3, 3, 1), (".", ".", "-")), ((1, 3, 3, 1), (".", ".", "-")))),
    _Id("uy-ci", (7, 8), ckn.uy_ci_ok, ("ci",), (((1, 3, 3, 1), (".", ".", "-")),)),
    _Id("no-fodselsnummer", (11,), ckn.no_fnr_ok, ("no-fnr",), (((6, 5), (" ",)),), True),
    _Id("dk-cpr", (10,), ckn.dk_cpr_ok, ("dk-cpr",)),
    _Id("is-kennitala", (10,), ckn.is_kennitala_ok, ("is-kt",), (), True),
    _Id("gr-amka", (11,), ckn.gr_amka_ok, ("gr-amka",), (), True),
    _Id("gr-afm", (9,), ckn.gr_afm_ok, ("gr-afm",)),
    _Id("at-svnr", (10,), ckn.at_svnr_ok, ("at-svnr",), (((4, 6), (" ",)),)),
    _Id("ro-cnp", (13,), ckn.ro_cnp_ok, ("ro-cnp",), (), True),
    _Id("bg-egn", (10,), ckn.bg_egn_ok, ("bg-egn",), (), True),
    _Id("jmbg", (13,), ckn.jmbg_ok, ("jmbg",), (), True),
    _Id("ee-isikukood", (11,), ckn.ee_isikukood_ok, ("ee-ik",), (), True),
    _Id("lv-personas-kods", (11,), ckn.lv_personas_kods_ok, ("lv-pk",), (((6, 5), ("-",)),)),
    _Id("hr-oib", (11,), ckn.hr_oib_ok, ("hr-oib",)),
    _Id("pl-nip", (10,), ckn.pl_nip_ok, ("pl-nip",), (((3, 3, 2, 2), ("-", "-", "-")),)),
    _Id("hu-taj", (9,), ckn.hu_taj_ok, ("hu-taj",)),
    _Id("pt-nif", (9,), ckn.pt_nif_ok, ("pt-nif",)),
    _Id("tr-tckn", (11,), ckn.tr_tckn_ok, ("tr-tckn",), (), True),
    _Id("il-teudat-zehut", (9,), ck.luhn_ok, ("il-tz",)),
    _Id("za-id", (13,), ckn.za_id_ok, ("za-id",), (), True),
    _Id("jp-my-number", (12,), ckn.jp_my_number_ok, ("jp-mynumber",)),
    _Id("sa-national-id", (10,), lambda d: d[0] in "12" and ck.luhn_ok(d), ("sa-id",)),
    _Id("eg-national-id", (14,), ckn.eg_national_id_ok, ("eg-nid",)),
    _Id("id-nik", (16,), ckn.id_nik_ok, ("id-nik",)),
    _Id("lk-nic", (12,), ck.lk_nic_ok, ("lk-nic",)),
    _Id("bd-nid", (10, 13, 17), lambda d: True, ("bd-nid",)),
    _Id("ng-nin", (11,), lambda d: True, ("ng-nin",)),
    _Id("vn-cccd", (9, 12), lambda d: True, ("vn-cccd",)),
    # PhilSys's 4-4-4 has no check digit: an order's or a ticket's number as often, so only under its word
    _Id("ph-id", (9, 10, 12), lambda d: True, ("ph-id",), (((2, 7, 1), ("-", "-")),)),
    _Id("au-tfn", (8, 9), ckn.au_tfn_ok, ("au-tfn",)),
    _Id("au-medicare", (10, 11), ckn.au_medicare_ok, ("au-medicare",), (((4, 5, 1), (" ", " ")), ((4, 5, 1, 1), (" ", " ", " ")))),
    _Id("au-abn", (11,), ckn.au_abn_ok, ("au-abn",), (((2, 3, 3, 3), (" ", " ", " ")),)),
    _Id("nz-ird", (8, 9), ckn.nz_ird_ok, ("nz-ird",)),
    _Id("mx-clabe", (18,), ckn.mx_clabe_ok, ("mx-clabe",)),
    _Id("mx-nss", (11,), ck.luhn_ok, ("mx-nss",)),
    _Id("cl-rut", (8, 9), ck.cl_rut_ok, ("cl-rut",)),
    _Id("ec-cedula", (10,), ckn.ec_cedula_ok, ("ci",)),
    _Id("national-id", tuple(range(6, 19)), lambda d: True, ("co-cc",)),
    _Id("bh-cpr", (9,), lambda d: True, ("dk-cpr",)),
    _Id("br-pis", (11,), ckn.br_pis_ok, ("br-pis",)),
    _Id("br-cns", (15,), ckn.br_cns_ok, ("br-cns",)),
    _Id("ru-inn", (10, 12), ckn.ru_inn_ok, ("ru-inn",)),
    _Id("ua-rnokpp", (10,), ckn.ua_rnokpp_ok, ("ru-inn",)),
    _Id("kz-iin", (12,), ckn.kz_iin_ok, ("kz-iin",), (), True),
    _Id("es-nss", (12,), ckn.es_nss_ok, ("es-nss",), (((2, 8, 2), ("/", "/")),)),
    _Id("lu-matricule", (13,), ckn.lu_matricule_ok, ("lu-matricule",), (), True),
    _Id("hu-tax-id", (10,), ckn.hu_tax_id_ok, ("hu-tax",)),
    _Id("us-aba-routing", (9,), ckn.us_aba_ok, ("us-aba",)),
    _Id("ca-health-card", (10,), ck.luhn_ok, ("ca-health",)),
    _Id("ir-melli-code", (10,), ckn.ir_melli_ok, ("ir-melli",), (((3, 6, 1), ("-", "-")),)),
    _Id("civil-id", (11, 12), lambda d: True, ("civil-id",)),
    _Id("md-idnp", (13,), ckn.md_idnp_ok, ("md-idnp",)),
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
