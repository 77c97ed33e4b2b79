"""National identifiers: each family is found with a valid check digit (under its own word
or, where its shape is its own, without one) and not found with a wrong one."""

from __future__ import annotations

import pytest

from fleet.detect.pii import scan_pii


def kinds(text: str) -> list[str]:
    return [f.kind for f in scan_pii(text)]


# (kind, the word that names it, a valid number, the same number with a wrong check digit
# or None where the format has no check digit)
DIGITS = [
    ("ch-ahv", "AHV-Nr.", "756.7975.4323.19", "756.7975.4323.10"),
    ("ar-cuit", "CUIT", "20-48757491-1", "20-48757491-0"),
    ("cz-rodne-cislo", "rodné číslo", "811006/4402", "811006/4400"),
    ("kr-rrn", "주민등록번호", "570108-1380539", "571308-1380539"),
    ("br-cnpj", "CNPJ", "12.653.173/2724-30", "12.653.173/2724-31"),
    ("be-national-number", "rijksregisternummer", "73.12.17-380.77", "73.12.17-380.70"),
    ("ru-snils", "СНИЛС", "106-385-005 33", "106-385-005 30"),
    ("my-mykad", "MyKad", "580106-14-3165", "581306-14-3165"),
    ("pk-cnic", "CNIC", "15785-6853992-9", None),
    ("ae-emirates-id", "Emirates ID", "784-1985-5358206-9", "784-1985-5358206-0"),
    ("th-id", "เลขประจำตัวประชาชน", "1090132254644", "1090132254640"),
    ("cl-rut", "RUT", "5.673.508-9", "5.673.508-0"),
    ("uy-ci", "C.I.", "4666315", "4666310"),
    ("no-fodselsnummer", "fødselsnummer", "26085110526", "26085110520"),
    ("dk-cpr", "CPR-nr.", "1512888295", "3212888295"),
    ("is-kennitala", "kennitala", "1411876789", "1411876781"),
    ("gr-amka", "ΑΜΚΑ", "15126678737", "15126678730"),
    ("gr-afm", "ΑΦΜ", "943473355", "943473350"),
    ("at-svnr", "SV-Nummer", "1719161192", "1710161192"),
    ("ro-cnp", "CNP", "1920927248466", "1920927248460"),
    ("bg-egn", "ЕГН", "5612105190", "5612105191"),
    ("jmbg", "JMBG", "0101006500006", "0101006500007"),
    ("ee-isikukood", "isikukood", "38507197062", "38507197060"),
    ("lv-personas-kods", "personas kods", "16129211455", "16129211450"),
    ("hr-oib", "OIB", "55361868977", "55361868970"),
    ("pl-nip", "NIP", "3169429867", "3169429860"),
    ("hu-taj", "TAJ szám", "215410281", "215410280"),
    ("pt-nif", "NIF", "299561976", "299561970"),
    ("tr-tckn", "TC Kimlik No", "19810120068", "19810120060"),
    ("il-teudat-zehut", "תעודת זהות", "665140562", "665140560"),
    ("za-id", "SA ID", "9907167196085", "9907167196080"),
    ("jp-my-number", "マイナンバー", "480383056766", "480383056760"),
    ("sa-national-id", "Iqama", "1263407858", "1263407850"),
    ("eg-national-id", "الرقم القومي", "26006140054611", "26013140054611"),
    ("id-nik", "NIK", "3273010709767097", "3273013309767097"),
    ("lk-nic", "NIC", "198512367770", "198599967770"),
    ("bd-nid", "NID", "81300064189842145", None),
    ("ng-nin", "NIN", "28244282472", None),
    ("vn-cccd", "CCCD", "313421909508", None),
    ("ph-id", "PhilSys", "161775079799", None),
    ("au-tfn", "TFN", "117 683 871", "117 683 870"),
    ("au-medicare", "Medicare", "3365 94666 9", "3365 94665 9"),
    ("au-abn", "ABN", "37 262 000 895", "37 262 000 890"),
    ("nz-ird", "IRD number", "042079146", "042079140"),
    ("mx-clabe", "CLABE", "002180248597570396", "002180248597570395"),
    ("mx-nss", "NSS", "65407102832", "65407102833"),
    ("ec-cedula", "cédula", "1710034065", "1710034066"),
    ("national-id", "DNI", "25066283", None),
    ("br-pis", "PIS", "59897066677", "59897066670"),
    ("br-cns", "CNS", "730867148589311", "730867148589310"),
    ("ru-inn", "ИНН", "376509087086", "376509087080"),
    ("kz-iin", "ИИН", "761123455319", "761123455310"),
    ("us-ein", "EIN", "23-1768423", "07-1768423"),
    ("uk-utr", "UTR", "6514267618", "6514267610"),
    ("us-ssn", "the contractor's social is", "590667362", "000667362"),
]


@pytest.mark.parametrize(("kind", "word", "good", "bad"), DIGITS, ids=[d[0] for d in DIGITS])
def test_a_valid_number_under_its_word_is_found(kind: str, word: str, good: str, bad: str | None) -> None:  # fmt: skip
    assert kind in kinds(f"{word}: {good} (please keep on file)")
    if bad is not None:
        assert kind not in kinds(f"{word}: {bad} (please keep on file)")


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("ch-ahv", "für die Lohnabrechnung 756.7975.4323.19"),
        ("ar-cuit", "factura 20-48757491-1, monotributo"),
        ("cz-rodne-cislo", "žadatel Jan Novák 811006/4402 Brno"),
        ("kr-rrn", "김민수 570108-1380539"),
        ("br-cnpj", "empresa 12.653.173/2724-30"),
        ("be-national-number", "dossier 73.12.17-380.77"),
        ("ru-snils", "Иванов 106-385-005 33"),
        ("ae-emirates-id", "tenant 784-1985-5358206-9"),
        ("pk-cnic", "applicant 15785-6853992-9"),
        ("cl-rut", "cliente 5.673.508-9"),
    ],
)
def test_a_shape_of_its_own_needs_no_word(kind: str, text: str) -> None:
    assert kind in kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "we shipped 117683871 units",  # a TFN's check, no word
        "reading 3365946669 on the meter",  # a Medicare number's check, no word
        "batch 1512888295 done",  # a date and four digits
        "amount 002180248597570396",  # CLABE's check, no word
        "counter 25066283",
    ],
)
def test_a_weak_format_without_its_word_is_not_found(text: str) -> None:
    assert kinds(text) == []


# Identifiers with letters: (kind, text with a valid one, the same with a wrong check)
LETTERS = [
    ("mx-curp", "mi CURP es HEGG560427MVZRRL04", "mi CURP es HEGG560427MVZRRL05"),
    ("sg-nric", "Tenant (NRIC S1234567D)", "Tenant (NRIC S1234567E)"),
    ("sg-nric", "worker FIN F2345678T", "worker FIN F2345678U"),
    ("hk-hkid", "holder A123456(3)", "holder A123456(4)"),
    ("fi-hetu", "henkilötunnus 131052-308T", "henkilötunnus 131052-308U"),
    ("cl-rut", "RUT 10000013-K", "RUT 10000014-K"),
    (
        "de-svnr",
        "Rentenversicherungsnummer 12 150780 J 123",
        "Rentenversicherungsnummer 12 150780 J 124",
    ),
    ("lk-nic", "NIC 853400937V", "NIC 859990937V"),
    ("ie-pps", "my PPS number is 1234567T", "my PPS number is 1234567A"),
    ("ie-pps", "PPSN: 1234567TW", "PPSN: 1234567AW"),
    ("nz-nhi", "patient NHI ZZZ0016", "patient NHI ZZZ0017"),
    ("tw-id", "身分證 A123456789", "身分證 A123456788"),
    ("hk-hkid", "HKID: A123456(3)", "HKID: A123456(5)"),
    ("mx-rfc", "RFC: GODE561231GR8", "RFC: GODE561341GR8"),
    ("de-id-card", "Personalausweisnummer T22000129", "Personalausweisnummer T2200"),
    ("us-mbi", "Medicare MBI 1EG4-TE5-MK73", "Medicare MBI 1EG4-TE5-MKA3"),
    ("ke-kra-pin", "KRA PIN A012345678Z", "KRA PIN A01234567ZZ"),
    ("in-voter-id", "voter ID ABC1234567", "voter ID AB12345678"),
    ("ve-cedula", "cédula V-12345678", "cédula X-12345678"),
    ("gh-card", "Ghana card GHA-123456789-0", "Ghana card GHB-123456789-0"),
]


@pytest.mark.parametrize(("kind", "good", "bad"), LETTERS, ids=[f"{x[0]}-{i}" for i, x in enumerate(LETTERS)])  # fmt: skip
def test_identifiers_with_letters(kind: str, good: str, bad: str) -> None:
    assert kind in kinds(good)
    assert kind not in kinds(bad)


def test_the_words_stand_in_their_own_languages() -> None:
    assert "gr-amka" in kinds("Στοιχεία ασφαλισμένου: ΑΜΚΑ 15126678737")
    assert "gr-afm" in kinds("ΑΜΚΑ 15126678737, ΑΦΜ 943473355")
    assert "cz-rodne-cislo" in kinds("žadatel Jan Novák, r.č. 8110064402, bydliště Brno")
    assert "at-svnr" in kinds("Sozialversicherungsnummer: 1719161192, Krankenkasse ÖGK")
    assert "au-tfn" in kinds("my accountant needs my TFN to lodge the return — it's 117 683 871")


def test_a_word_inside_another_word_does_not_count() -> None:
    # "tin" inside "Martin", "nic" inside "picnic": no EIN, no NIC
    assert kinds("Martin 231768423") == []
    assert kinds("picnic 198512367770") == []


@pytest.mark.parametrize(
    "text",
    [
        "placeholder emails like user@example.com",
        "write to name@example.org",
        "mail anyone@host.test for the fixture",
    ],
)
def test_placeholder_addresses_are_not_personal_data(text: str) -> None:
    assert kinds(text) == []


def test_a_real_address_at_an_example_domain_is_still_found() -> None:
    assert kinds("mail jane.doe@example.com now") == ["email"]
    assert kinds("k.nakamura@example.jp") == ["email"]


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("jp-my-number", "私のマイナンバーは480383056766です"),
        ("kr-rrn", "주민등록번호는570108-1380539입니다"),
        ("th-id", "เลขประจำตัวประชาชน1090132254644"),
        ("phone", "电话13800138000"),
    ],
)
def test_scripts_without_spaces_put_the_number_against_its_word(kind: str, text: str) -> None:
    assert kind in kinds(text)


def test_the_word_may_follow_the_number() -> None:
    assert kinds("590667362 (SSN)") == ["us-ssn"]
    assert kinds("23079118060 er fødselsnummeret mitt") == ["no-fodselsnummer"]
    assert kinds("reading 590667362 today") == []


def test_a_number_glued_to_latin_letters_is_still_part_of_a_token() -> None:
    assert kinds("build_20240318 and SN-8842-1190") == []


def test_an_identity_document_without_a_check_digit_needs_its_word() -> None:
    assert kinds("Kenyan ID No. 12345678, phone below") == ["national-id"]
    assert kinds("DNI 25.066.283") == ["national-id"]
    assert kinds("Order ID no. 12345678") == []  # the shop's number
    assert kinds("ID card reader model X200") == []


def test_passport_words_in_more_languages() -> None:
    assert kinds("Paspoortnummer: NW12345L6") == ["passport"]


def test_a_korean_number_without_its_word_needs_its_check_digit() -> None:
    # since 2020 the last digit is no check: under the word the date will do, alone it won't
    assert kinds("주민등록번호 800101-1234563") == ["kr-rrn"]
    assert kinds("김민수 570108-1380539") == ["kr-rrn"]
    assert kinds("김민수 570108-1380530") == []


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("bank-account", "My sort code is 20-00-00 and account 12345678"),
        ("bank-account", "account 12345678, sort code 40-47-84"),
        ("bank-account", "Konto 1234567890, BLZ 37040044"),
        ("medical-record", "MRN 12345678 at St. Mary's"),
        ("email", "john.doe(at)gmail.com"),
        ("email", "jane [at] corp [dot] de"),
        ("street-address", "Flat 3, 12 Queen's Road, Manchester"),
        ("phone", "my number is 9876543210"),
    ],
)
def test_accounts_records_and_spelled_out_addresses(kind: str, text: str) -> None:
    assert kind in kinds(text)


def test_an_account_number_on_a_bill_is_not_a_bank_account() -> None:
    assert kinds("Account number 4347182223323158 is shown twice on my bill.") == []


@pytest.mark.parametrize(
    "text",
    ["DPI 1234567890101", "Cédula 001-1234567-8", "Omang 123456789", "CPR 850101234"],
)
def test_identity_numbers_without_check_digits_under_their_words(text: str) -> None:
    assert kinds(text) != []


@pytest.mark.parametrize(
    "text",
    [
        "CI run 4666315 failed again",  # "CI" names a pipeline, not a cédula de identidad
        "Bitte geben Sie ein 231768423 und bestätigen",  # German "ein", not an EIN
        "the next run 12345678-5 is queued",  # a run, not Chile's RUN
        "tin can 117683871",
    ],
)
def test_acronyms_that_are_also_words_count_in_upper_case_only(text: str) -> None:
    assert kinds(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Questions? Contact us at support@fernhillgoods.com, Mon-Fri.",
        "Questions to finance-ops@northwind-trading.com or it-support@nordfors.se.",
        "Bei Fragen: kundenservice@gartenwelt-shop.de",
        "git remote set-url origin https://ci-reader:onn8yBWeFEWUyo8c@nexus.corp-tools.net/repo.git",
    ],
)
def test_a_function_mailbox_or_a_url_login_is_no_one_s_address(text: str) -> None:
    assert kinds(text) == []


def test_a_person_s_mailbox_beside_a_function_s_is_found() -> None:
    assert kinds("cc support@acme.io and maria.lopez@acme.io") == ["email"]


def test_a_published_test_card_is_a_finding_unless_the_text_is_testing_with_it() -> None:
    assert kinds("In sandbox mode use 4242 4242 4242 4242 with any CVC.") == []
    assert kinds("usad la tarjeta de prueba 4111 1111 1111 1111") == []
    assert kinds("my card 4111 1111 1111 1111 was charged twice") == ["card-number"]
    assert kinds("my card 4539 1488 0343 6467 in sandbox mode") == ["card-number"]


def test_a_company_s_address_is_not_a_person_s() -> None:
    assert kinds("Atelier Lumière SARL – 14 rue de la Verrerie, 69002 Lyon") == []
    assert kinds("Ship to Maria Lopez, 14 rue de la Verrerie, 69002 Lyon") == ["street-address"]
