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

The national identifiers made of digits (their table, the words that name them) and the
numbers after an identity document's word are read in :mod:`fleet.detect.national`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import checksums as ck
from .finding import Finding, mask
from .national import _NATIONAL, _NO_CONTEXT, _Context, _document, _national
from .text import Pattern, View, exact

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
    r"|(?i:(?:\b(?:passport|passeport|pasaporte|passaporto|passaporte|reisepass(?:nummer)?|pass-?nummer|paspoort(?:nummer)?|paszport|pasaport|passi|passnummer)|паспорт|护照|旅券|여권)(?:\s+(?:no|number|num|nr|n°|#|id)|番号|号码|號碼|번호)?(?:\s+(?:is|was))?\.?\s*[:#：]?\s*)([A-Z0-9]{6,9})\b"
    # 6 driving licence number after the words
    r"|(?i:\bdriv(?:er'?s?|ing)[ \-]licen[cs]e(?:\s+(?:no|number|num|nr|#|id))?\.?\s*[:#]?\s*)([A-Z0-9][A-Z0-9\-]{4,15}[A-Z0-9])\b"
    # 7 date of birth after the words
    r"|(?i:(?:\b(?:DOB|date of birth|birth ?date|birthday|born on|geboren am|geburtsdatum|n[ée]e? le|date de naissance|fecha de nacimiento|data di nascita|data de nascimento|geboortedatum|f[öo]delsedatum|f[øo]dselsdato|data urodzenia|datum narozen[ií]|syntym[äa]aika|sz[üu]let[ée]si d[áa]tum|nato il|nata il|nascido em|nacido el|nacida el)\b|\bD\.O\.B\.|\bgeb\.|doğum tarihi|дата рождения|дата народження|जन्म तिथि|जन्मतिथि|生年月日|出生日期|생년월일)(?:\s+(?:is|was))?\s*[:\-]?\s*)(\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}|\d{1,2}(?:st|nd|rd|th)? (?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* \d{4}|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* \d{1,2}(?:st|nd|rd|th)?,? \d{4})"
    # 8 Indian PAN after the word (the fourth letter says who holds it)
    r"|(?i:(?:\bPAN|पैन)(?:\s+(?:card|no|number|nr|#|कार्ड|नंबर))?(?:\s+(?:is|was))?\.?\s*[:#]?\s*)([A-Z]{3}[ABCFGHJLPT][A-Z]\d{4}[A-Z])\b"
    # 9 a street address: a house number, capitalised words, a street type
    r"|\b(\d{1,5}[A-Z]?,?\s+(?:[A-Z][a-z']+\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Terrace|Crescent|Close|Parkway|Highway|Hwy)"
    r"|[A-Z][a-zäöüß]+(?:straße|strasse|weg|allee|platz|gasse|ring|damm|ufer|chaussee)\s+\d{1,4}[a-z]?"
    r"|\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:[Rr]ue|[Aa]venue|[Bb]oulevard|[Cc]hemin|[Aa]ll[ée]e|[Pp]lace|[Ii]mpasse|[Qq]uai|[Rr]oute)\s+(?:de la\s+|de\s+|du\s+|des\s+|d')?[A-Z][a-zéèêàç]+"
    r"|(?:Calle|Avenida|Avda\.|Paseo|Plaza|Via|Viale|Piazza|Corso|Rua|Travessa|Largo)\s+(?:de\s+(?:la\s+|las\s+|los\s+)?|del\s+|della\s+|delle\s+|di\s+|da\s+|do\s+|das\s+|dos\s+)?[A-Z][a-záéèàâãêíóôõúñç]+(?:\s+[A-Z][a-záéèàâãêíóôõúñç]+)?,?\s+\d{1,4}"
    r"|[A-Z][a-zäöü]+er\s(?:Straße|Strasse|Weg|Allee|Platz|Gasse|Ring|Damm|Chaussee)\s+\d{1,4}[a-z]?"
    # a German address by its postcode: "Am Mühlbach 5, 79098 Freiburg"
    r"|(?:Am|An der|An den|Im|In der|Zum|Zur|Auf dem|Auf der|Hinter der|Unter den)\s+[A-ZÄÖÜ][a-zäöüß]+(?:\s+[A-ZÄÖÜ][a-zäöüß]+)?\s+\d{1,4}[a-z]?,\s+\d{5}\s+[A-ZÄÖÜ][a-zäöüß]+)\b"
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

_PLACEHOLDER_DOMAINS = {
    "example.com", "example.org", "example.net", "company.com", "yourcompany.com", "mycompany.com",
    "domain.com", "yourdomain.com", "email.com",
}  # fmt: skip
# RFC 2606's reserved TLDs that no mail reaches; .example is left out, as a text's stand-in for
# a real domain (maria.lopez@northwind.example) whose address is a person's all the same
_PLACEHOLDER_TLDS = {"test", "invalid", "localhost"}
# Mailbox names that stand for anyone's (at RFC 2606's documentation domains).
_PLACEHOLDER_LOCALS = {
    "user", "username", "user.name", "name", "email", "mail", "someone", "somebody", "anyone",
    "you", "your", "yourname", "your.name", "your.email", "me", "myname", "test", "tester",
    "foo", "bar", "baz", "example", "sample", "first.last", "firstname.lastname", "firstname",
    "lastname", "name.surname", "nobody", "noreply", "no-reply", "address", "user1", "user2",
    "alice", "bob", "carol", "dave", "eve", "mallory", "test.user", "testuser", "demo", "demo.user",
}  # fmt: skip

# Mailboxes of a function, not of a person (support@, billing@, it-onboarding@,
# klantenservice@): no one's personal data. A local part counts when every piece of it
# (split at . _ - +) is one of these words.
_ROLE_LIST = """
support help helpdesk service services customerservice customer customers care billing invoice
invoices invoicing accounts accounting account ap ar payable payables receivable receivables
finance payroll hr people recruiting recruitment careers jobs talent benefits info information
contact contacts hello sales marketing press media pr legal privacy dpo gdpr compliance security
abuse postmaster webmaster hostmaster admin administrator it ops devops sre noc engineering team
office reception orders order shop store returns shipping logistics procurement purchasing
noreply no reply donotreply do not notifications notification notify alerts alert reports report
newsletter news feedback onboarding mailer bounce bounces ci build builds releases release status
bot bots desk inbox general enquiries inquiries partners partner events vendors vendor suppliers
treasury tax audit facilities operations tickets ticket escalations
klantenservice kundenservice kundendienst personal personalabteilung buchhaltung rechnung rechnungen
vertrieb einkauf kontakt verwaltung zentrale service-client serviceclient facturation compta
comptabilite contactez apoio suporte soporte atencion ventas contacto contatto contato assistenza
sicurezza amministrazione fatturazione crediteuren debiteuren facturen inkoop verkoop boekhouding
presse prensa imprensa stampa pers redaktion redazione redaccion datenschutz privacidad privacidade
servicedesk cs phishing spam facturacion faturamento faturacao factuur rh recrutement empleo
pmo platform platforms awareness systems system infra infrastructure data analytics product design
qa developers client clients kundeservice kundservice asiakaspalvelu bezpieczenstwo obsluga
biuro zakaznicky ugyfelszolgalat musteri destek yardim assistance urgent reward rewards
kancelaria sekretariat secretariat secretaria secretariado registry
governance chair chairs committee board ai ki ia seguranca securite sicherheit customs zoll
konkurs ayuda aiuto hilfe aide pomoc frontdesk
tietosuoja cskh bd dev devs booking bookings reservations lounge lounges pals etat civil mairie accueil
karriere bewerbung bewerbungen candidature candidatures lavoraconnoi lavora trabajaconnosotros
vagas curriculos atendimento sac ouvidoria
seguridad veiligheid beveiliging bezpecnost guvenlik fraude fraud betrug fraudes
cliente clientes clienti kunde kunden klant klanten portal tietoturva tietosuojavastaava
shop store sklep tienda loja negozio boutique winkel butik kauppa obchod magazin webshop eshop
iod rodo dsb dpd datenschutzbeauftragter dpa encarregado rgpd
travel travels expenses financeiro financiero finanziario akaun kewangan muhasebe keuangan
speakers speaker sponsors sponsorship volunteers registration pedidos encomendas bestellungen
commandes ordini zamowienia contracts contract contratos contrats vertraege social
compras compra acquisti achats zakupy nakup ostot innkjop indkob inkop beschaffung controlling
vendas vendite verkauf sprzedaz prodej myynti salg forsaljning satis podpora wsparcie tuki
kundtjanst kundtjenst ekonomi okonomi faktura fakturor faktury ksiegowosc
contabilidad contabilita contabilidade financas finanzas finanza finanzen finances financien
"""
_ROLE_WORDS = frozenset(_ROLE_LIST.split())
_ROLE_SPLIT = re.compile(r"[._+\-]")
# Card numbers the networks and payment providers publish for testing (4242 4242 4242 4242,
# 4111 1111 1111 1111…): no one's where the text says it is testing with them (a sandbox,
# test mode, a fixture); elsewhere they stand for a card as any other number does.
_TEST_LIST = """
4242424242424242 4000056655665556 5555555555554444 2223003122003222 5200828282828210
5105105105105100 378282246310005 371449635398431 6011111111111117 6011000990139424
3056930009020004 36227206271667 3566002020360505 6200000000000005 4000000000000002
4000000000009995 4000000000009987 4000000000009979 4000000000000069 4000000000000127
4000000000000119 4000002760003184 4000002500003155 4000000000003220 4000000000003063
4000000000000077 4000003720000278 4000000000000341 4100000000000019 4000000000004954
4111111111111111 4012888888881881 4222222222222 5500000000000004 5431111111111111
340000000000009 30000000000004 6011000000000004 3530111333300000 378734493671000
5610591081018250 38520000023237 4917610000000000 4444333322221111 5454545454545454
4005519200000004 4009348888881881 4012000033330026 4012000077777777 4217651111111119
4500600000000061 4000111111111115 2222405343248877 2223000048400011 6011111111111117
"""
_TEST_CARDS = frozenset(_TEST_LIST.split())

_TESTING = re.compile(
    r"(?i)sandbox|test[ \-_]?mode|test[ _]numbers?|documented|for testing|"
    r"staging|fixture|sk_test|pk_test|de prueba|di prova|de teste|testkarte|carte de test|testnummer|"
    r"test (?:data|values)|\(\w+ test\)|testkaart|testomgeving|testumgebung|testumgeving|ambiente de prueba"
)
_TEST_REACH = 800  # a table of test cards under its heading
# A card spoken of: a published test number stands for one only then ("let n =
# 4111111111111111. Compute its digit sum" is arithmetic).
_CARD_WORDS = re.compile(
    r"(?i)\b(?:cards?|cc|ccn|credit|debit|visa|master ?card|amex|american express|discover|maestro|jcb|diners|unionpay|"
    r"expir\w*|exp|cvv|cvc|pan|payment|pay|paid|checkout|charged?|tarjeta|carte|karte|kaart|carta|"
    r"cart[aã]o|karta|kart|kortti|kort)\b|卡|カード|카드|карт\w*"
)
_CARD_REACH = 120
# A company's name or its office just before an address, on the same line.
_COMPANY = re.compile(
    r"\b(?:Ltd|Limited|LLC|L\.L\.C\.|Inc|Corp|Corporation|plc|GmbH|AG|KG|SARL|SAS|S\.A\.|SA|S\.r\.l\.|"
    r"SRL|S\.L\.|B\.V\.|BV|N\.V\.|Pty|Oy|AB|ApS|A/S|Sp\. z o\.o\.|(?:\d+(?:st|nd|rd|th) )?Floor|Suite|"
    r"Unit \d+|Building|Headquarters|HQ)\b\.?[^\n]{0,12}$"
    # "our workshop in", "la nostra officina di", "kantor layanan kami": a business's own place
    r"|(?i:\b(?:our|nostra|nostro|notre|nos|nuestra|nuestro|nuestras|unser\w*|nossa|nosso|onze|nasz\w*)\s+"
    r"(?:\w+\s+)?(?:offices?|shop|store|workshop|showroom|branch|headquarters|warehouse|clinic|"
    r"officina|sede|negozio|filiale|ufficio|si[eè]ge|bureaux?|magasin|agence|boutique|atelier|"
    r"oficinas?|tienda|sucursal|almac[eé]n|b[uü]ro|gesch[aä]ft|laden|sitz|lager|praxis|"
    r"escrit[oó]rio|loja|kantoor|winkel|biuro|sklep)\b[^\n]{0,16}$"
    r"|\b(?:kantor|toko|gudang)\s+(?:\w+\s+)?kami\b[^\n]{0,40}$"
    # a place of business named before it: "Hotel address: Grand Riverside Hotel,", "Returns:
    # Northwind Outfitters,", "left at the pickup point at"
    r"|\b(?:hotel|hostel|restaurant|caf[eé]|shop|store|boutique|warehouse|depot|pickup point|"
    r"collection point|returns?|headquarters|clinic|hospital|pharmacy|school|university|museum|"
    r"library|gallery|theat(?:re|er)|cinema|airport|venue|showroom|branch|factory|plant|"
    r"registered office|head office|sede legale|si[eè]ge social|domicilio social|firmensitz)\b[^\n]{0,50}$"
    # a public body, a department, a charity or a site named before it: "Mairie de … Adresse :",
    # "Kontakt: Zollabteilung,", "(charity no. 1181234),", "Site: 14-16 High Street"
    r"|\b(?:mairie|rathaus|town hall|city hall|council|ayuntamiento|municipio|comune|gemeente|"
    r"prefecture|pr[eé]fecture|ministry|minist[eè]re|ministerium|agency|authority|beh[oö]rde|amt|"
    r"\w+abteilung|department|d[eé]partement|service [eé]tat civil|charity|foundation|stiftung|"
    r"association|verein|site|premises|application site|condominio|condominiale|copropri[eé]t[eé]|"
    r"comunidad de propietarios|eigent[uü]mergemeinschaft|homeowners'? association|hoa)\b[^\n]{0,70}$)"
)
_COMPANY_REACH = 60
# A company's registry or tax number: an IBAN beside one is the company's account (an
# invoice's footer), not a person's.
_BUSINESS_IDS = re.compile(
    r"\b(?:USt-?Id(?:Nr)?\.?|VAT (?:no|number|reg(?:istration)?(?: no)?)|TVA intracommunautaire|"
    r"Partita IVA|Registro Mercantil|Company (?:no|number|registration)|Handelsregister|"
    r"Amtsgericht|Companies House|Registered in England)\b|"
    # the short ones only with their number: "ABN AMRO" is a bank, "ABN 51 824 753 556" a number
    r"\b(?:CIF|P\.? ?IVA|HRB|HRA|KvK(?:-nummer)?|SIRE[NT]|RCS(?: \w+)?|BTW(?:-nummer)?|CVR(?:-nr)?|"
    r"Org\.? ?nr|ABN|CNPJ|REGON|KRS|I[ČC]O|D[IÍ][ČC])\b[\s:.#№-]{0,4}(?:[A-Z]{1,3}[\s-]?)?\d|"
    # an EU VAT number in its own shape: "BE0643384271", "DE281947663", "ATU12345678"
    r"\b(?:BE[01]\d{9}|DE\d{9}|FR[0-9A-Z]{2}\d{9}|IT\d{11}|NL\d{9}B\d{2}|ATU\d{8}|PL\d{10}|"
    r"PT\d{9}|SE\d{10}01|DK\d{8}|LU\d{8}|CZ\d{8,10}|ES[A-Z]\d{7}[0-9A-Z]|ES\d{8}[A-Z])\b"
)
_BUSINESS_REACH = 300
# A shop's or a business's name after an address: "counter 2, Abbey Road Hardware".
_BUSINESS_AFTER = re.compile(
    r"\s+(?:Hardware|Stores?|Shop|Supplies|Pharmacy|Bakery|Caf[eé]|Restaurant|Hotel|Garage|Motors|"
    r"Market|Centre|Center|Clinic|Surgery|Library|Station|Branch|Depot|Warehouse|Mall|Plaza|Ltd|"
    r"Limited|Inc|LLC|GmbH)\b"
)
_SWITCHBOARD = (
    r"(?:standard|switchboard|main (?:line|number|office)|reception|front desk|zentrale|"
    r"centralino|centralita|centralka|recepci[oó]n|central telef[oó]nica|customer (?:service|care|"
    r"support)|support line|hotline|helpline|help desk|helpdesk|sales|call cent(?:er|re)|"
    r"tel[eé]fono de atenci[oó]n(?: al cliente)?|atenci[oó]n al cliente|servicio al cliente|"
    r"atendimento|kundenservice|kundendienst|service client(?:s|èle)?|assistenza clienti|"
    r"klantenservice|kundtj[aä]nst|[cç]a[gğ]r[iı] merkezi|m[uü][sş]teri hizmetleri|お客様窓口|"
    r"サポートセンター|カスタマーサポート|고객센터|客服(?:热线|熱線|电话|電話)?|服务热线|服務熱線|"
    r"コールセンター|huduma kwa wateja)"
)
_SWITCHBOARD_AFTER = re.compile(rf"[ \t]*[(\[]?{_SWITCHBOARD}\b", re.I)
# A switchboard's word, not inside another word (CJK text has no word boundary before it).
_SWITCHBOARD_WORD = rf"(?<![A-Za-zÀ-ÿ]){_SWITCHBOARD}"
# A fax number in a list of an organisation's lines ("Switchboard: …", "Fax: …").
_FAX = r"\b(?:fax|telefax|faks)"
_FAX_LABEL = re.compile(rf"(?i){_FAX}\s*[:\-]?\s*$")
_SWITCHBOARD_NEAR = re.compile(rf"{_SWITCHBOARD_WORD}\b", re.I)
# A fax line, a word or two and a preposition before it: "Fax referrals to +1 …" (an
# office's, not a person's; "Fax: +33 1 …" alone may be anyone's).
_FAX_BEFORE = re.compile(
    rf"(?i){_FAX}\b(?:\s+\w+){{1,2}}?\s*[:\-]?\s*(?:(?:to|at|on|an|au|al|a)\s+)?$"
)
# "Contact : service client au 01 86 …", "请拨打客服热线 400-…" (no word boundary in CJK text)
_SWITCHBOARD_BEFORE = re.compile(
    rf"{_SWITCHBOARD_WORD}\s*(?:\([^()\n]{{1,40}}\))?\s*[:：\-]?\s*"
    r"(?:(?:au|at|on|al|am|unter|op|em|no|ao|pod|na|numéro|number|n[uú]mero)\s+)?$"
    # the line named in brackets after its kind: "Telefon (Zentrale): +49 …"
    rf"|\((?:{_SWITCHBOARD})\)\s*[:\-]?\s*$",
    re.I,
)
# A street named as a stand-in: "123 Example Street", "456 Placeholder Ave".
_STAND_IN = re.compile(
    r"\b(?:Example|Sample|Placeholder|Demo|Dummy|Fake|Fictional|Test)\b|\bMuster\w*"
)
# The IBANs standards bodies and banks publish as examples (ECBS, SWIFT's registry): no
# one's account.
_IBAN_LIST = """
    GB82WEST12345698765432 GB29NWBK60161331926819 DE89370400440532013000 DE44500105175407324931
    FR1420041010050500013M02606 FR7630006000011234567890189 ES9121000418450200051332
    IT60X0542811101000000123456 NL91ABNA0417164300 BE68539007547034 CH9300762011623852957
    AT611904300234573201 PL61109010140000071219812874 PT50000201231234567890154
    SE4550000000058398257466 DK5000400440116243 NO9386011117947 FI2112345600000785
    IE29AIBK93115212345678 LU280019400644750000 SA0380000000608010167519 AE070331234567890123456
    """
_EXAMPLE_IBANS = frozenset(_IBAN_LIST.split())

# Words that say a text's values are examples, not anyone's: a fictional phone number, a
# documented IBAN or a mailbox at a documentation domain is personal data unless they are
# near ("My number is (415) 555-0132" is a person's number in a text as in a test).
_SAYS_EXAMPLE = re.compile(
    r"(?i)(?<![@.\w])(?:e\.g\.|(?:for example|for instance|example|examples|sample|samples|fictional|fictitious|"
    r"not (?:a )?real|dummy|placeholder|demo|synthetic|faker|made[ \-]up|test (?:number|data|account)s?|"
    r"fiction|mock[ \-]?ups?|muster\w*|muestra|de muestra|test cases?|red[ \-]team\w*|payloads?|"
    r"documentation|ejempl\w*|exempl\w*|beispiel\w*|esempi\w*|voorbeeld\w*|przyk[lł]ad\w*|"
    r"p[rř][ií]klad\w*|exempel\w*|esimerk\w*|[öo]rnek\w*|пример\w*|приклад\w*|fiktiv\w*|"
    r"fictif|fictive|ficticio|ficticia|fittizi[oa]|fict[ií]ci[oa]|fikcyjn\w*|nie jest (?:to )?prawdziw\w*)\b)"
)
_EXAMPLE_REACH = 300


def _stand_in(kind: str, value: str) -> bool:
    if kind == "phone":
        parts = re.split("[–—~]", value)  # a range of them: 555-0100–555-0199
        return all(
            _fictional_phone(
                "+" if part.lstrip(" (").startswith("+") else "",
                "".join(c for c in part if c.isdigit()),
            )
            for part in parts
        )
    if kind == "iban":
        return value.replace(" ", "") in _EXAMPLE_IBANS
    if kind == "email":
        domain = value.rpartition("@")[2].lower()
        return domain in _PLACEHOLDER_DOMAINS or domain.endswith((".example.com", ".example.org"))
    if kind in _ID_KINDS:
        compact = "".join(c for c in value if c.isalnum()).upper()
        digits = "".join(c for c in compact if c.isdigit())
        return (
            digits.startswith("12345678")
            or compact in _FAMOUS_IDS
            or (kind == "uk-nino" and compact.startswith("QQ"))  # HMRC's example prefix
        )
    return False


# National identifiers' documented stand-ins: a counting run (123-45-6789, 12345678Z),
# the Woolworth wallet card's SSN and the SSA's advertising one, HMRC's QQ prefix; like a
# fictional phone range, no one's where the text says it is an example.
_ID_KINDS = frozenset({"us-ssn", "uk-nino", "es-dni", "es-nie", "ca-sin", "it-codice-fiscale"})
_FAMOUS_IDS = frozenset({"078051120", "219099999"})


_IBAN = Pattern(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")

# ------------------------------------------------------------------ digit runs

_RUN = Pattern(r"[+(]?\d(?:(?:[ .\-/]|\) ?| ?\()?\d){6,}[Xx]?\)?")


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


# The ranges regulators keep for fiction and documentation: North America's 555-0100 to
# 555-0199; Ofcom's drama numbers (020 7946 0xxx, 0113 496 0xxx…, 07700 900xxx); ACMA's
# (02 5550 xxxx, 0491 570 xxx…). As national digits, without the country code.
_FICTIONAL = re.compile(
    r"(?:[2-9]\d\d)?55501\d\d"
    r"|0?(?:2079460|(?:113|114|115|116|117|118|121|131|141|151|161)4960|1914980|2890180|2920180|"
    r"1632960|7700900|8081570|9098790|3069990)\d{3}"
    r"|0?[2378]5550\d{4}|0?[2378]7010\d{4}|0?491570\d{3}|0?1955\d{4}"
)


def _fictional_phone(lead: str, digits: str) -> bool:
    national = digits
    if lead == "+" or digits.startswith("00"):
        national = digits[2:] if digits.startswith("00") else digits
        for code in ("1", "44", "61"):
            if national.startswith(code):
                national = national[len(code) :]
                break
        else:
            return False
    elif len(digits) == 11 and digits[0] == "1":
        national = digits[1:]
    return _FICTIONAL.fullmatch(national) is not None


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
    if len(set(digits)) == 1:
        return None  # "00000000", "0000-0000-0000": a placeholder, no one's number
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
            # 3-3-3 is a SIN's form, unless the text calls the number a phone's
            sin_form = lens == (3, 3, 3) and not ctx("phone")
            if (sin_form or ctx("ca-sin")) and digits[0] != "8" and ck.luhn_ok(digits):
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
                # (but "2024-06-13 06:00:04" is a date and a time)
                timed = j == count - 1 and text[end : end + 1] == ":"
                kind = _national(ctx, digits, lens, seps) if len(lens) > 3 and not timed else None
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


# Numbers no person holds: free and shared-cost service numbers, by country code (the
# national digits after it) and in the national forms a text writes them in.
_SERVICE_BY_CODE = {
    "34": ("900", "800", "901", "902"),
    "81": ("120", "800", "570"),
    "90": ("850", "800", "444"),
    "44": ("800", "808", "300", "330", "345", "370"),
    "49": ("800", "180"),
    "33": ("800", "801", "802", "803", "804", "805"),
    "39": ("800", "803"),
    "31": ("800", "900"),
    "61": ("1800", "1300", "13"),
    "91": ("1800",),
    "55": ("800", "4004", "3003"),
}
_SERVICE_NATIONAL = (
    "0800", "0808", "0300", "0330", "0345", "0370", "0120", "0570", "0850", "0180", "1800", "1300",
    "900", "800",
)  # fmt: skip


def _service_number(value: str) -> bool:
    """A free or shared-cost service number (0800 …, 0120-…, 900 …, 0850 …), or one whose
    subscriber digits are all zeros (0850 000 00 00): a company's or a stand-in."""
    digits = "".join(c for c in value if c.isdigit())
    if digits[-7:].count("0") >= 6:
        return True
    lead = value.lstrip()[:1]
    if lead == "+" or digits.startswith("00"):
        national = digits[2:] if digits.startswith("00") else digits
        for code in sorted(_SERVICE_BY_CODE, key=len, reverse=True):
            if national.startswith(code):
                return national[len(code) :].startswith(_SERVICE_BY_CODE[code])
        return False
    return digits.startswith(_SERVICE_NATIONAL)


# A line that gives an organisation's number: its desk, office, helpdesk, appointments or
# triage line ("call our portal helpdesk on", "Outpatient appointments:", "our front desk is
# available 24/7 at", "kontakt telefoniczny z biurem:"), with no one's own number named.
_ORGANISATION_LINE = re.compile(
    r"(?i)\b(?:our|the|its)\s+(?:[\w\-]+\s+){0,2}(?:desk|office|helpdesk|help desk|hotline|helpline|"
    r"team|department|reception|switchboard|clinic|practice|branch|centre|center|line|ward)\b|"
    r"\b(?:appointments|enquiries|inquiries|bookings|reservations|triage|helpdesk|front desk|"
    r"customs desk|box office|ticket office|admissions|switchboard|zentrale|centralino)\b|\bbiur\w*|\bdzia[lł]\w*|"
    r"\bservice (?:desk|line)\b"
)
_SOMEONES_OWN = re.compile(
    r"(?i)\b(?:my|me|mine|i'm|i am|her|his|their personal|personal|private|home|mobile|cell)\b"
)


# A product's or a parcel's code, not a number to call: "EAN: 4006381333931".
_CODE_LABEL = re.compile(
    r"(?i)\b(?:EAN(?:-13|-8)?|GTIN|UPC|ISBN(?:-1[03])?|ISSN|SKU|MPN|tracking(?: (?:no\.?|number))?)\s*[:#]?\s*[\d\- ]{0,4}\Z"
)


def _an_organisation_s_line(text: str, s: int) -> bool:
    """The number follows an organisation's desk or line on its own line, and nothing
    there says it is someone's own."""
    lo = text.rfind("\n", max(0, s - 100), s) + 1 or max(0, s - 100)
    before = text[lo:s]
    return bool(_ORGANISATION_LINE.search(before)) and not _SOMEONES_OWN.search(before)


_MAILBOX_LOCAL = re.compile(r"([\w.+\-]+)@[\w\-]+\.")


def _beside_a_function_mailbox(text: str, s: int, e: int) -> bool:
    """A number on the same line as a function's mailbox ("sales@acme.se | +46 8 …"): a
    department's line."""
    lo = text.rfind("\n", max(0, s - 120), s) + 1 or max(0, s - 120)
    hi = text.find("\n", e, e + 120)
    line = text[lo : hi if hi >= 0 else min(len(text), e + 120)]
    return any(
        all(part in _ROLE_WORDS for part in _ROLE_SPLIT.split(m.group(1).lower()) if part)
        for m in _MAILBOX_LOCAL.finditer(line)
    )


# ------------------------------------------------------------------ the detector


# An id written as an address: a calendar event's UID, a mail's Message-ID, a UUID.
_MESSAGE_ID = re.compile(
    r"(?i)(?:\bUID|Message-ID|Content-ID|In-Reply-To|References|Thread-Index)\s*[:=]\s*<?\s*\Z"
)
_UUID_IN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-|\d{8}T\d{6}")


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
    if all(part in _ROLE_WORDS for part in _ROLE_SPLIT.split(local.lower()) if part):
        return False  # a function's mailbox: support@, finance-ops@, no-reply@
    if _userinfo(view.text, s):
        return False  # https://user:token@host, mongodb://app:pass@cluster: a URL's login
    if _MESSAGE_ID.search(view.text, max(0, s - 16), s) or _UUID_IN.search(local):
        return False  # an event's or a message's id: "UID:b1f0…@corp", "Message-ID: <…@host>"
    return view.text[e : e + 1] != ":"  # git@github.com:org/repo is a remote, not a mailbox


_URL_REACH = 200


def _userinfo(text: str, s: int) -> bool:
    """Whether ``text[s]`` opens the login part of a URL: ``://`` before it, with no space
    between (read back at most ``_URL_REACH`` characters)."""
    k = s - 1
    low = max(0, s - _URL_REACH)
    while k >= low and not text[k].isspace() and text[k] not in "\"'<>(":
        if text[k] == "/" and text[k - 2 : k + 1] == "://":
            return True
        k -= 1
    return False


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
        if kind == "street-address" and (
            _COMPANY.search(text, max(0, os - _COMPANY_REACH), os)
            or _STAND_IN.search(value)
            or _BUSINESS_AFTER.match(text, oe)
        ):
            continue  # a company's address: "Atelier Lumière SARL – 14 rue de la Verrerie"
        if kind == "iban" and _BUSINESS_IDS.search(
            text, max(0, os - _BUSINESS_REACH), oe + _BUSINESS_REACH
        ):
            continue  # a company's account on its invoice's footer, beside its VAT or registry number
        if _stand_in(kind, value) and (
            _SAYS_EXAMPLE.search(text, max(0, os - _EXAMPLE_REACH), os)
            or _SAYS_EXAMPLE.search(text, oe, oe + _EXAMPLE_REACH)
        ):
            continue  # a documented stand-in where the text says so: "e.g. +1 555 0100"
        if kind == "phone" and (
            _SWITCHBOARD_AFTER.match(text, oe)
            or _SWITCHBOARD_BEFORE.search(text, max(0, os - 60), os)
            or _FAX_BEFORE.search(text, max(0, os - 40), os)
            or (
                _FAX_LABEL.search(text, max(0, os - 16), os)
                and _SWITCHBOARD_NEAR.search(text, max(0, os - 200), oe + 200)
            )
            or _service_number(value)
            or _beside_a_function_mailbox(text, os, oe)
            or _an_organisation_s_line(text, os)
            or _CODE_LABEL.search(text, max(0, os - 16), os)
        ):
            continue  # a company's line: "04 72 00 00 00 (standard)", "Zentrale: 030 …", 0800 …
        if (
            kind == "card-number"
            and "".join(c for c in value if c.isdigit()) in _TEST_CARDS
            and (
                _TESTING.search(text, max(0, os - _TEST_REACH), oe + _TEST_REACH)
                or not _CARD_WORDS.search(text, max(0, os - _CARD_REACH), oe + _CARD_REACH)
            )
        ):
            continue
        found.append(Finding("pii", kind, os, oe, mask("".join(value.split()))))
    return found
