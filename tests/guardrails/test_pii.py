from __future__ import annotations

import pytest

from cascadepolicy.guardrails import pii
from cascadepolicy.guardrails.base import DetectorUnavailable


def found(text: str, entities: set[str] | None = None) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in pii.scan(text, entities).findings]


def test_email_span_and_reason_without_the_value() -> None:
    text = "Write to maria.lopez+billing@mail.example.org today."
    verdict = pii.scan(text)
    assert found(text) == [("email", "maria.lopez+billing@mail.example.org")]
    assert verdict.fired and "maria" not in verdict.reason


@pytest.mark.parametrize(
    "number",
    ["(415) 555-2671", "+44 20 7946 0321", "+49 30 901820", "0044 20 7946 0321", "212.555.0187 ext. 12"],
)
def test_phone_numbers_in_several_formats(number: str) -> None:
    text = f"Please call me on {number} after lunch."
    assert found(text, {"phone"}) == [("phone", number)]


def test_bare_run_and_quantities_are_not_phones() -> None:
    assert found("We shipped 1 000 000 units and 2 500 spares.", {"phone"}) == []
    assert found("The build 20240611 failed.", {"phone"}) == []


def test_dates_are_not_phones() -> None:
    assert found("Signed on 2023-04-18 and renewed 12/05/2024.", {"phone"}) == []


def test_luhn_decides_credit_cards() -> None:
    assert found("card 4539 1488 0343 6467 please", {"credit_card"}) == [("credit_card", "4539 1488 0343 6467")]
    # same shape, wrong check digit: an order number, not a card
    assert found("order 4539 1488 0343 6468 please", {"credit_card"}) == []


def test_ssn_validity_rules() -> None:
    assert found("SSN 536-22-9104", {"ssn"}) == [("ssn", "536-22-9104")]
    for invalid in ("666-22-9104", "000-22-9104", "912-22-9104", "536-00-9104", "536-22-0000"):
        assert found(f"SSN {invalid}", {"ssn"}) == [], invalid


def test_bare_nine_digits_need_an_ssn_cue() -> None:
    assert found("reference 536229104", {"ssn"}) == []
    assert found("my social security number is 536229104", {"ssn"}) == [("ssn", "536229104")]


def test_iban_checksum() -> None:
    assert found("IBAN DE89 3704 0044 0532 0130 00.", {"iban"}) == [("iban", "DE89 3704 0044 0532 0130 00")]
    assert found("IBAN DE88 3704 0044 0532 0130 00.", {"iban"}) == []


def test_ip_addresses_and_version_strings() -> None:
    text = "blocked from 203.0.113.74 and 2001:db8::8a2e:370:7334"
    assert sorted(found(text, {"ip_address"})) == [
        ("ip_address", "2001:db8::8a2e:370:7334"),
        ("ip_address", "203.0.113.74"),
    ]
    assert found("upgrade to version 1.2.3.4 now", {"ip_address"}) == []
    assert found("octets 300.1.2.3 are invalid", {"ip_address"}) == []
    assert found("meet at 10:30:45 today", {"ip_address"}) == []


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0k1L2m3",
        "AKIA" + "ABCDEFGHIJKLMNOP",
        "ghp_" + "A" * 36,
        "xoxb-" + "1234567890-abcdefghij",
        "AIza" + "B" * 35,
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ],
)
def test_api_keys(secret: str) -> None:
    text = f"here is my key {secret} keep it safe"
    assert found(text, {"api_key"}) == [("api_key", secret)]


def test_private_key_block_and_assigned_secret() -> None:
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    assert found(f"key:\n{block}\n", {"api_key"}) == [("api_key", block)]
    assert found("password = hunter2hunter2!", {"api_key"}) == [("api_key", "hunter2hunter2")]


def test_person_and_street_are_opt_in() -> None:
    text = "My name is Ingrid Moser and I live at 221B Baker Street."
    assert found(text) == []
    assert found(text, {"person", "street_address"}) == [
        ("person", "Ingrid Moser"),
        ("street_address", "221B Baker Street"),
    ]


def test_clean_text_passes() -> None:
    verdict = pii.scan("What is the capital of France? Answer in 3 words.")
    assert not verdict.fired and verdict.findings == () and verdict.score == 0.0


def test_unknown_entity_and_backend_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown PII entity 'passport'"):
        pii.scan("x", {"passport"})
    with pytest.raises(ValueError, match="unknown PII backend"):
        pii.scan("x", backend="spacy")


def test_presidio_backend_needs_its_package() -> None:
    try:
        import presidio_analyzer  # noqa: F401
    except ImportError:
        with pytest.raises(DetectorUnavailable, match="presidio-analyzer"):
            pii.scan("mail a@b.co", backend="presidio")
    else:
        assert pii.scan("mail someone@example.com", {"email"}, backend="presidio").fired
