from __future__ import annotations

from cascadepolicy.guardrails import pii
from cascadepolicy.guardrails.base import Finding
from cascadepolicy.guardrails.redaction import Redactor, mask, resolve_overlaps


def test_same_value_same_placeholder_across_calls() -> None:
    redactor = Redactor()
    first = "Mail ana@example.com or bo@example.com"
    second = "Again: ana@example.com, phone (415) 555-2671"
    out1 = redactor.redact(first, pii.scan(first).findings)
    out2 = redactor.redact(second, pii.scan(second).findings)
    assert out1 == "Mail [EMAIL_1] or [EMAIL_2]"
    assert out2 == "Again: [EMAIL_1], phone [PHONE_1]"
    assert redactor.mapping == {
        "[EMAIL_1]": "ana@example.com",
        "[EMAIL_2]": "bo@example.com",
        "[PHONE_1]": "(415) 555-2671",
    }


def test_new_redactor_starts_numbering_again() -> None:
    text = "ana@example.com"
    assert Redactor().redact(text, pii.scan(text).findings) == "[EMAIL_1]"
    assert Redactor().redact(text, pii.scan(text).findings) == "[EMAIL_1]"


def test_overlaps_keep_the_longest_then_highest_score() -> None:
    a = Finding("phone", 0, 10, 0.6, "PHONE")
    b = Finding("credit_card", 0, 19, 0.95, "CREDIT_CARD")
    c = Finding("email", 25, 30, 0.5, "EMAIL")
    d = Finding("api_key", 25, 30, 0.9, "API_KEY")
    assert resolve_overlaps([a, b, c, d]) == [b, d]
    text = "4539 1488 0343 6467 and 12345"
    assert Redactor().redact(text, [a, b]) == "[CREDIT_CARD_1] and 12345"


def test_mask_hides_most_of_the_value() -> None:
    assert mask("john.smith@example.com") == "j***@e***.com"
    assert mask("4539 1488 0343 6467") == "****6467"
    assert mask("sk-abcdefghijklmnop") == "sk***op"
    assert "hunter" not in mask("hunter2")
