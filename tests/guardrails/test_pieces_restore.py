"""Redaction by pieces, tool-call arguments as JSON pieces, and restoring placeholders (issue 13.4)."""

from __future__ import annotations

import json
import time

import pytest

from cascadepolicy.guardrails import pii
from cascadepolicy.guardrails.base import Finding
from cascadepolicy.guardrails.redaction import Redactor

EMAIL = "ana@example.com"


def test_redact_pieces_redacts_each_piece_in_place() -> None:
    from cascadepolicy.guardrails.redaction import SEPARATOR

    pieces = ["Mail ana@example.com", "", "or bo@example.com now"]
    joined = SEPARATOR.join(pieces)
    out = Redactor().redact_pieces(pieces, pii.scan(joined).findings)
    assert out == ["Mail [EMAIL_1]", "", "or [EMAIL_2] now"]


def test_a_finding_over_several_pieces_is_replaced_where_it_starts() -> None:
    pieces = ["ab<<c", "def", "g>>h"]
    # "<<c\ndef\ng>>" spans the three pieces of "ab<<c\ndef\ng>>h"
    out = Redactor().redact_pieces(pieces, [Finding("x", 2, 13, 1.0, "X")])
    assert out == ["ab[X_1]", "", "h"]


def test_placeholder_labels_stay_findable() -> None:
    redactor = Redactor()
    token = redactor.placeholder("my label]x" * 20, "value", restore=True)
    assert token.startswith("[my_label_x") and len(token) <= 48 + 12
    assert redactor.restore(f"<{token}>") == "<value>"


def test_restore_maps_back_only_what_a_restore_rule_issued() -> None:
    redactor = Redactor()
    text = f"I am {EMAIL}, phone (415) 555-2671"
    redacted = redactor.redact(text, pii.scan(text, ["email"]).findings, restore=True)  # a rule with restore
    redacted = redactor.redact(redacted, pii.scan(redacted, ["phone"]).findings)  # a rule without
    assert redacted == "I am [EMAIL_1], phone [PHONE_1]"
    assert redactor.restores
    assert redactor.restore("Hi [EMAIL_1] ([PHONE_1]) [EMAIL_2] [EMAIL_1]") == f"Hi {EMAIL} ([PHONE_1]) [EMAIL_2] {EMAIL}"


def test_a_value_also_redacted_without_restore_is_not_restored() -> None:
    redactor = Redactor()
    finding = [Finding("email", 0, len(EMAIL), 1.0, "EMAIL")]
    redactor.redact(EMAIL, finding, restore=True)
    assert redactor.restore("[EMAIL_1]") == EMAIL
    redactor.redact(EMAIL, finding)  # an output rule that redacts it: never handed back
    assert redactor.restore("[EMAIL_1]") == "[EMAIL_1]" and not redactor.restores


def test_restore_is_linear_on_hostile_text() -> None:
    redactor = Redactor()
    redactor.redact(EMAIL, [Finding("email", 0, len(EMAIL), 1.0, "EMAIL")], restore=True)
    hostile = "[" * 1_000_000 + "[A" * 500_000 + ("[" + "A_" * 30 + "1" * 8) * 20_000 + "[EMAIL_1]"
    started = time.perf_counter()
    restored = redactor.restore(hostile)
    assert time.perf_counter() - started < 5  # a few hundredths of a second here
    assert restored.endswith(EMAIL) and len(restored) == len(hostile) - len("[EMAIL_1]") + len(EMAIL)


# ------------------------------------------------------------------ JSON arguments

def test_arguments_are_their_decoded_keys_strings_and_numbers_in_order() -> None:
    from cascadepolicy.guardrails.pieces import Arguments

    args = Arguments.of('{"to": "a\\u0040b.com", "list": [1, 2.5, true, null, {"k": "v"}], "n": -3}')
    assert args.texts == ("to", "a@b.com", "list", "1", "2.5", "k", "v", "n", "-3")
    texts = list(args.texts)
    texts[1], texts[3], texts[5] = "[EMAIL_1]", "[NUM_1]", "key"
    assert json.loads(args.rebuilt(texts)) == {"to": "[EMAIL_1]", "list": ["[NUM_1]", 2.5, True, None, {"key": "v"}], "n": -3}
    assert args.rebuilt(args.texts) is args.raw  # unchanged arguments are not re-encoded


@pytest.mark.parametrize("raw", ["not json {", "", "[1, 2", '"just a string"', "null"])
def test_arguments_that_are_not_an_object_still_round_trip(raw: str) -> None:
    from cascadepolicy.guardrails.pieces import Arguments

    args = Arguments.of(raw)
    assert args.rebuilt(args.texts) == raw


def test_deeply_nested_arguments_do_not_crash() -> None:
    from cascadepolicy.guardrails.pieces import Arguments

    deep = "[" * 100_000 + "]" * 100_000  # beyond the parser's depth: scanned as text
    assert Arguments.of(deep).texts == (deep,)
    nested = '{"a":' * 500 + f'"{EMAIL}"' + "}" * 500
    args = Arguments.of(nested)
    texts = [t.replace(EMAIL, "[EMAIL_1]") for t in args.texts]
    assert EMAIL not in args.rebuilt(texts)


def test_a_restored_value_cannot_change_the_arguments_json() -> None:
    from cascadepolicy.guardrails.pieces import restore_arguments

    value = 'x", "admin": true, "y": "'
    redactor = Redactor()
    redactor.redact(value, [Finding("custom", 0, len(value), 1.0, "NAME")], restore=True)
    restored = restore_arguments('{"name": "[NAME_1]"}', redactor.restore)
    assert json.loads(restored) == {"name": value}  # one key, its value the caller's text
    assert restore_arguments("plain [NAME_1]", redactor.restore) == f"plain {value}"
