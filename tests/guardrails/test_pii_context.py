"""Personal data read in its context: a documented stand-in (a fictional phone range, an
IBAN published as an example, a mailbox at a documentation domain) is no one's where the
text says it is an example, and a person's where it does not; a business's own address,
switchboard and function mailboxes are not personal; a date with its time is no id."""

from __future__ import annotations

import pytest

from fleet.detect import scan_pii


@pytest.mark.parametrize(
    "text",
    [
        "Numbers are stored in E.164, e.g. `+15550123` or `+442079460123` for a fictional line.",
        "Example from the standard (not a real account): GB82 WEST 1234 5698 7654 32.",
        'This sample posts -d email="maria.lopez@example.com" to the customers endpoint.',
        "Demo fixtures\nname,phone\nAda Sample,555-0111\nBo Sample,555-0123",
        "name,address\nJane Example,42 Example Street, Springfield",
        "| Visa | 4242 4242 4242 4242 |\n" * 12 + "Use these numbers in test mode only.",
        "Le confermiamo l'appuntamento presso la nostra officina di Via Emilia 220, Modena.",
        "Verantwortlich ist die Kesselbach Software GmbH, Friedrichstraße 12, 10117 Berlin.",
        "Contact presse : presse@octave-mobilite.fr, 04 72 10 20 30 (standard).",
        "Forward it to phishing@uni.ac.uk or servicedesk@uni.ac.uk, then delete it.",
        "2024-06-13 06:00:04 INFO cron: done\n2024-06-13 06:00:05 INFO next",
        "Organizer: finance-systems@northbeam.io\nWho: AP team leads",
        "Spieldaten, alle Angaben fiktiv\nAnschrift: Musterstraße 1, 12345 Musterstadt\n"
        "E-Mail: max.mustermann@example.com",
        "Hotel address: Grand Riverside Hotel, 45 Quai des Bateliers, 67000 Strasbourg.",
        "# Test data only: 4111 1111 1111 1111 (Visa test), 5555 5555 5555 4444 (MC test).",
        "For urgent pay queries contact payroll-urgent@trust.nhs.uk over the holiday.",
        "INSERT INTO patient (id, mrn) VALUES ('00000000-0000-0000-0000-000000000001', 'D-1');",
    ],
)
def test_a_stand_in_or_a_business_is_not_personal(text: str) -> None:
    assert not scan_pii(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("My number is (415) 555-0132.", "phone"),
        ("call me on +44 7700 900123 after 5pm", "phone"),
        ("refund to GB29NWBK60161331926819 please", "iban"),
        ("write to maria.lopez@example.com, she handles my account", "email"),
        ("I moved to 42 Willow Street last month.", "street-address"),
        ("ring her at 04 72 10 20 30 tonight", "phone"),
        ("氏名：HIROSE TAKUMI\n旅券番号：TK8402917\n国籍：日本", "passport"),
        ("test card 4111 1111 1111 1111 keeps failing at checkout", "card-number"),
    ],
)
def test_the_same_values_as_someone_s_are(text: str, kind: str) -> None:
    assert [f.kind for f in scan_pii(text)] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        # free and shared-cost service numbers, all-zero stand-ins, a department's line
        "Teléfono de atención: 900 123 456 (gratuito, de lunes a viernes)",
        "株式会社サンプル商事\n電話：0120-345-678（平日 9:00〜18:00）",
        "Müşteri Hizmetleri\nÇağrı merkezi: 0850 222 00 00 (hafta içi 09:00–18:00)",
        "Kundenservice: 0800 123 4567 (kostenlos)",
        "Sales\nsales@norrlandsystems.se | +46 8 410 200 50\n\nPress\npress@norrlandsystems.se",
        "Customer service: klantenservice@example-shop.nl or +31 10 555 0199 (weekdays).",
        # an event's id written as an address; a function's mailbox, at .example too
        "BEGIN:VEVENT\nUID:b1f0e4c2-7d33-4a8e-9c51-88aa3f0c2e17@corp.example\nDTSTART:20240704T130000Z",
        "Questions: ai-governance@company.example",
        "Fragen an das Team: ki-team@firma.example",
        "Bookings: bookings@meridiantravel.example",
        "Courriel : etat-civil@mairie-villeneuve.example",
        "Author: Lea Hoffmann <dev@platform-team.example>",
        # an example IBAN said to be one, in Polish
        "Przykładowy numer IBAN używany w dokumentacji testowej to PL61 1090 1014 0000 0712 1981 "
        "2874 — nie jest to prawdziwy rachunek.",
    ],
)
def test_a_service_number_an_event_id_or_an_example_in_another_language_is_not_personal(
    text: str,
) -> None:
    assert not scan_pii(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Reach me on +420 603 123 456 after six.", "phone"),
        ("Mi número es 612 34 56 78, llámame mañana.", "phone"),
        ("her address is anna.kowalska@poczta.pl", "email"),
        # a person's address at a stand-in domain, and a number in area 555, are still theirs
        ("write to maria.lopez@northwind.example", "email"),
        ("call (555) 123-4567 tonight", "phone"),
        ("Przelew na PL61 1090 1014 0000 0712 1981 2874, dziękuję.", "iban"),
    ],
)
def test_a_person_s_number_address_or_account_still_is(text: str, kind: str) -> None:
    assert [f.kind for f in scan_pii(text)] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        # public bodies, departments, charities and sites named before their address
        "Mairie de Villeneuve, 1 place de la Libération, 47300 Villeneuve-sur-Lot",
        "Kontakt: Zollabteilung, Hafenstraße 12, 28217 Bremen",
        "To: Eastside Learning Commons (charity no. 1181234), 5 Chapel Street, Bradford BD1 5DL",
        # an organisation's desks and lines, UK public-service numbers
        "Outpatient appointments: 01632 960 123, Mon-Fri 8:30-17:00",
        "If you have any questions, our front desk is available 24/7 at +1 (212) 555-0100.",
        "Forgot your password? Call our portal helpdesk on 0300 123 4567 (Mon-Fri).",
        "W razie wątpliwości prosimy o kontakt telefoniczny z biurem: +48 22 100 20 30.",
        # fixtures' stand-ins at the documentation domains
        '{"customer": {"name": "Test User", "email": "test.user@example.com"}}',
    ],
)
def test_an_organisation_s_address_or_line_or_a_fixture_is_not_personal(text: str) -> None:
    assert not scan_pii(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("My mobile, in case the office line is busy: 07911 123456", "phone"),
        ("Our customer Dana Whitfield lives at 42 Willow Street, Leeds.", "street-address"),
    ],
)
def test_someone_s_own_number_or_home_still_is(text: str, kind: str) -> None:
    assert [f.kind for f in scan_pii(text)] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        # a range of fictional numbers; a product's code; an id's documented stand-in said to be one
        "Test data: phone numbers from 555-0100–555-0199 only.",
        "ISBN-13: 978-0-13-468599-1\nEAN: 4006381333931",
        "In the form mock-up, use 123-45-6789 as the SSN placeholder.",
        "NI numbers look like QQ 12 34 56 C (the HMRC example format).",
        "Por ejemplo, el número de muestra 12345678Z se considera válido en las pruebas.",
        "Zum Testen kann die Muster-IBAN DE89 3704 0044 0532 0130 00 eingegeben werden.",
        # an organisation's lines and mailboxes in more languages; a test card in Dutch
        "联系我们\n客服热线:400-820-6688(每天 8:00–22:00)\n商务合作:bd@huanyu-home.com.cn",
        "Yhteyshenkilö tietosuoja-asioissa: tietosuoja@pohjolankirjakauppa.fi",
        "Zentrale: +49 8161 9470-0 · Fax: +49 8161 9470-99",
        "Gebruik in de testomgeving de testkaart 5555 5555 5555 4444 (Mastercard).",
    ],
)
def test_a_documented_stand_in_a_code_or_an_organisation_s_line_is_not_personal(text: str) -> None:
    assert not scan_pii(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("SSN on file: 123-45-6789, verified by phone.", "us-ssn"),
        ("Fax: +33 1 23 45 67 89", "phone"),
        ("Call me on +33 6 12 34 56 78 after work, not the office.", "phone"),
    ],
)
def test_the_same_values_with_nothing_saying_they_are_examples_are(text: str, kind: str) -> None:
    assert kind in [f.kind for f in scan_pii(text)]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # a German address by its postcode, a birth date after "geb."
        ("Anschrift: Am Mühlbach 5, 79098 Freiburg im Breisgau", "street-address"),
        ("Patientin: Frau Ingrid Kowalczyk, geb. 13.07.1956", "date-of-birth"),
        # the words of other languages before a birth date, a PAN, a mobile number
        ("नाम – सुनीता शर्मा, जन्म तिथि 14/08/1986", "date-of-birth"),
        ("पैन KRXPS4572C", "in-pan"),
        ("मोबाइल 98110 47263", "phone"),
        ("Doğum tarihi: 03.04.1990", "date-of-birth"),
    ],
)
def test_personal_data_named_in_more_languages_is_found(text: str, kind: str) -> None:
    assert [f.kind for f in scan_pii(text)] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        # an application mailbox, a company's registered office
        "Bewerbungen bitte über karriere@nordlicht-software.de (Kennziffer 2291).",
        "Registered office: 1 Canal Street, Manchester M1 3HE. Company number 09876543.",
    ],
)
def test_a_company_s_mailbox_or_registered_office_is_not(text: str) -> None:
    assert scan_pii(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Zamówienie zostało wysłane. W razie pytań: sklep@example.com",
        "¿Dudas? Escríbenos a tienda@example.es",
    ],
)
def test_a_shop_s_mailbox_is_not_personal(text: str) -> None:
    assert scan_pii(text) == []


def test_a_person_s_mailbox_at_the_same_shop_still_is() -> None:
    assert [f.kind for f in scan_pii("Napisz do mnie: jan.kowalski@sklep-przyklad.pl")] == ["email"]


@pytest.mark.parametrize(
    "text",
    [
        # a published test card's number where no card is spoken of
        "Puzzle: is 4242424242424242 divisible by 4? Show your working.",
        # a company's line after its name and a preposition, or in Chinese text
        "Pour toute question, appelez le service client au 01 23 45 67 89.",
        "如有疑问，请致电客服电话 400-123-4567，工作日 9:00-18:00。",
        # a security team's mailbox in Spanish
        "Report suspicious messages to seguridad@banco-ejemplo.es.",
    ],
)
def test_a_number_a_company_s_line_or_a_security_mailbox_is_not_personal(text: str) -> None:
    assert scan_pii(text) == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Card: 4111111111111111 exp 09/27", "card-number"),
        ("CC 6011000990139424", "card-number"),
        ("Call María at 06 12 34 56 78 after six.", "phone"),
    ],
)
def test_a_card_or_a_person_s_phone_still_is(text: str, kind: str) -> None:
    assert [f.kind for f in scan_pii(text)] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        "Payment reference: RF18539007547034. Please quote it on your transfer.",
        "Questions? Write to atencion.cliente@tienda-ejemplo.es with your order number.",
        "Fax referrals to +1 (617) 555-0150 and call the front desk for parking.",
        "Red team note: the test case mailed attacker@example.com and was blocked.",
    ],
)
def test_a_creditor_reference_a_shop_s_desk_a_fax_line_or_a_test_case_is_not(text: str) -> None:
    assert scan_pii(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Fax: +33 1 23 45 67 89",
        "Contact me at maria.lopez@example.com, my own mailbox.",
    ],
)
def test_a_bare_fax_number_or_a_person_s_mailbox_still_is(text: str) -> None:
    assert scan_pii(text) != []


@pytest.mark.parametrize(
    "text",
    [
        # an organisation's lines: hours in brackets, its kind in brackets, a fax in its list
        "Contact us\nHotline (Mon-Fri 8:00-18:00 CET): +46 8 120 300 00",
        "Impressum\nTelefon (Zentrale): +49 7361 9000-0",
        "Switchboard: +46 8 120 300 10\nFax: +46 8 120 300 99",
        # a building's meeting minutes, a security team's mailbox in Finnish
        "Verbale dell'assemblea condominiale del 12 marzo – Via Garibaldi 18",
        "Ohje: ota yhteyttä tietoturva@yritys.fi",
    ],
)
def test_an_organisation_s_lines_a_building_or_a_security_desk_is_not_personal(
    text: str,
) -> None:
    assert scan_pii(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Fax: +33 1 23 45 67 89",
        "Call Anna (mobile): +46 70 123 45 67",
    ],
)
def test_a_bare_fax_or_a_person_s_mobile_in_brackets_still_is(text: str) -> None:
    assert scan_pii(text) != []


@pytest.mark.parametrize(
    "text",
    [
        # a 4-4-4 number with no check digit and no word for PhilSys: a ticket's or an order's
        "お問い合わせ番号：7781-2290-4415 をお控えください。",
        "Ticket 3301-7716-2049 has been updated.",
        # a customer desk in Swahili and Japanese
        "Huduma kwa wateja: 0800 711 000 (saa 24).",
        "カスタマーサポート：03-5555-0199（平日10時〜17時）",
        # a data protection officer's mailbox, in Polish and German
        "Wnioski należy kierować na adres iod@sklep-przyklad.pl.",
        "Fragen zum Datenschutz an datenschutzbeauftragter@beispiel-gmbh.de.",
    ],
)
def test_a_ticket_number_or_a_customer_desk_is_not_personal(text: str) -> None:
    assert scan_pii(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "PhilSys number: 4512-3388-7713",
        "Huduma Namba yangu ni 12345678, tafadhali isasishe.",
    ],
)
def test_the_same_numbers_under_their_id_s_word_still_are(text: str) -> None:
    assert scan_pii(text) != []


@pytest.mark.parametrize(
    "text",
    [
        # a purchasing, sales, customer-service or finance mailbox in more languages
        "Para aprobaciones de compras, escribid a compras@textiles-ejemplo.es.",
        "Dúvidas sobre o pedido? Falem com vendas@loja-exemplo.com.br.",
        "Kontakta kundtjanst@elbolaget-exempel.se om något inte fungerar.",
        "Please copy controlling@firma-example.de on the monthly cost report.",
        "Žádosti o licence posílejte na podpora@tiskarna-priklad.cz.",
        "Skicka fakturan till ekonomi@bageri-exempel.se senast fredag.",
    ],
)
def test_a_purchasing_sales_or_finance_desk_s_mailbox_is_not_personal(text: str) -> None:
    assert scan_pii(text) == []


def test_a_person_s_mailbox_beside_a_desk_s_still_is() -> None:
    found = scan_pii("Escribid a compras@textiles-ejemplo.es o a lucia.ferrer@textiles-ejemplo.es.")
    assert [f.kind for f in found] == ["email"]


@pytest.mark.parametrize(
    "text",
    [
        "Questions: travel@quayside-example.com",
        "Dúvidas: financeiro@distribuidora-exemplo.com.br.",
        "Sila hantar laporan kepada akaun@sinar-contoh.com.my sebelum Jumaat.",
        "Sorularınız için muhasebe@lojistik-ornek.com.tr adresine yazabilirsiniz.",
        # a company's account on its invoice's footer, beside its registry or tax number
        "Harrowgate Werkzeuge GmbH · HRB 48812 · USt-IdNr. DE281947663\n"
        "Bank: Sparkasse · IBAN DE44 5001 0517 5407 3249 31 · BIC INGDDEFFXXX",
        "Titular: Cerámicas del Levante, S.L. · CIF B46123456\nIBAN NL20 INGB 0001 2345 67",
    ],
)
def test_a_desk_s_mailbox_or_a_company_s_account_on_its_invoice_is_not_personal(text: str) -> None:
    assert scan_pii(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Bitte überweisen Sie die Erstattung auf mein Konto: IBAN DE44 5001 0517 5407 3249 31.",
        "IBAN NL20INGB0001234567 (ABN AMRO)",
    ],
)
def test_a_person_s_account_still_is(text: str) -> None:
    assert [f.kind for f in scan_pii(text)] == ["iban"]


@pytest.mark.parametrize(
    "text",
    [
        'ssh-keygen -t ed25519 -C "you@company.com"',
        "Please send slides to speakers@devsummit-example.com by 20 June.",
        "Drukkerij Peeters BV · BE0643384271 · IBAN BE02 6348 8860 4140 · BIC GEBABEBB",
        "Collect from counter 2, Abbey Road Hardware.",
        "Dudas sobre su pedido: pedidos@distribuciones-ejemplo.es",
        "Questions to social-committee@harbourlight-example.org.",
    ],
)
def test_a_stand_in_a_desk_a_vat_numbered_footer_or_a_shop_is_not_personal(text: str) -> None:
    assert scan_pii(text) == []


def test_a_person_s_mailbox_at_a_stand_in_domain_still_is() -> None:
    assert [f.kind for f in scan_pii("Write to maria.lopez@company.com for the keys.")] == ["email"]
