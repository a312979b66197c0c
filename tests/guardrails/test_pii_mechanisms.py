"""PII mechanisms from the formats' specifications (issue 14.2): number tokenisation, IPv4 of any
octet length, SSN separators and SSA rules, the IBAN registry's lengths, IDNA e-mail domains,
IPv6 text forms and CIDR spans. Each case is built from the format's rules, not from a data file."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from stdnum import iban as stdnum_iban

from cascadepolicy.guardrails import pii, pii_iban, pii_net


def found(text: str, entities: set[str] | None = None) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in pii.scan(text, entities).findings]


def luhn_complete(body: str) -> str:
    """`body` with the Luhn check digit appended (ISO/IEC 7812)."""
    for d in "0123456789":
        if pii.luhn_valid(body + d):
            return body + d
    raise AssertionError


def make_iban(country: str, bban: str) -> str:
    """An IBAN with correct ISO 13616 check digits for a BBAN of the country's registry format."""
    return country + stdnum_iban.calc_check_digits(country + "00" + bban) + bban


# --- tokenisation: adjacent numbers stay apart --------------------------------------------

VISA = luhn_complete("411111111111111")
MASTERCARD = luhn_complete("510510510510510")
AMEX = luhn_complete("37828224631000")


@pytest.mark.parametrize("sep", [" ", "  "])
def test_two_card_numbers_side_by_side_are_both_found(sep: str) -> None:
    text = f"cards {VISA}{sep}{MASTERCARD} on file"
    assert found(text, {"credit_card", "phone"}) == [("credit_card", VISA), ("credit_card", MASTERCARD)]


def test_two_grouped_card_numbers_side_by_side_are_both_found() -> None:
    a = " ".join(VISA[i : i + 4] for i in range(0, 16, 4))
    b = f"{AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}"
    assert found(f"use {a} {b} please") == [("credit_card", a), ("credit_card", b)]


def test_card_next_to_an_ssn_and_two_ssns() -> None:
    assert found(f"{VISA} 536-22-9104") == [("credit_card", VISA), ("ssn", "536-22-9104")]
    assert found("536-22-9104 536-22-9105") == [("ssn", "536-22-9104"), ("ssn", "536-22-9105")]


def test_a_long_grouped_id_is_not_split_into_numbers() -> None:
    # 22 digits in groups of four (a parcel tracking number's layout): no piece is a proven number
    assert found("parcel 9400 1000 0000 0000 0000 00 shipped") == []


# --- IPv4 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("addr", ["8.8.8.8", "1.1.1.1", "10.0.0.1", "9.9.9.9", "192.168.0.1", "0.0.0.0", "255.255.255.255"])
def test_ipv4_of_any_octet_length(addr: str) -> None:
    assert found(f"resolver {addr} answers", {"ip_address"}) == [("ip_address", addr)]
    assert found(f"({addr}).", {"ip_address"}) == [("ip_address", addr)]


@pytest.mark.parametrize("text", ["1.2.3.4.5", "256.1.1.1", "1.2.3", "01.2.3.4", "v1.2.3.4", "version 10.0.0.1", "a1.2.3.4"])
def test_not_ipv4(text: str) -> None:
    assert found(f"see {text} now", {"ip_address"}) == []


def test_ipv4_with_port_and_cidr() -> None:
    assert found("host 10.0.0.1:8080 up", {"ip_address"}) == [("ip_address", "10.0.0.1")]
    assert found("block 10.0.0.0/8 and 192.168.1.0/24.", {"ip_address"}) == [
        ("ip_address", "10.0.0.0/8"), ("ip_address", "192.168.1.0/24")]
    assert found("net 10.0.0.0/33 is not a prefix", {"ip_address"}) == [("ip_address", "10.0.0.0")]


# --- IPv6 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "addr",
    ["2001:db8::1", "::1", "fe80::", "2001:0db8:0000:0000:0000:ff00:0042:8329", "::ffff:192.0.2.128",
     "64:ff9b::198.51.100.7", "::ffff:10.0.0.1", "fe80::1ff:fe23:4567:890a%eth0", "fe80::1%25en0",
     "2001:db8::/32", "2001:db8:abcd:12::/64"],
)
def test_ipv6_forms_are_whole_spans(addr: str) -> None:
    assert found(f"route {addr} today.", {"ip_address"}) == [("ip_address", addr)]


@pytest.mark.parametrize("text", ["std::vector", "a::b", "10:30:45", "00:1a:2b:3c:4d:5e", "1:2:3", "Foo::Bar"])
def test_not_ipv6(text: str) -> None:
    assert found(f"use {text} here", {"ip_address"}) == []


# --- SSN --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sep", ["-", " ", "."])
def test_ssn_separators(sep: str) -> None:
    ssn = sep.join(("536", "22", "9104"))
    assert found(f"number {ssn} on file") == [("ssn", ssn)]
    assert found(f"SSN: {ssn}") == [("ssn", ssn)]


def test_mixed_separators_are_not_an_ssn() -> None:
    assert [k for k, _ in found("number 536-22.9104 on file")] != ["ssn"]


def test_ssn_after_a_cue_is_an_ssn_not_a_phone() -> None:
    for ssn in ("536229104", "536.22.9104", "536 22 9104"):
        assert found(f"SSN: {ssn}") == [("ssn", ssn)], ssn
        assert found(f"social security number {ssn}.") == [("ssn", ssn)], ssn


@pytest.mark.parametrize("sep", ["-", " ", ".", ""])
@pytest.mark.parametrize("parts", [("000", "22", "9104"), ("666", "22", "9104"), ("900", "22", "9104"),
                                   ("999", "22", "9104"), ("536", "00", "9104"), ("536", "22", "0000")])
def test_ssa_validity_rules_in_every_separator(sep: str, parts: tuple[str, str, str]) -> None:
    assert found(f"SSN: {sep.join(parts)}", {"ssn"}) == []


# --- IBAN -------------------------------------------------------------------------------------


def test_iban_length_table_covers_the_registry() -> None:
    table = pii_iban.lengths()
    assert len(table) >= 75
    assert (table["NO"], table["BE"], table["DE"], table["GB"], table["FR"], table["MT"]) == (15, 16, 22, 22, 27, 31)
    assert min(table.values()) == 15 and max(table.values()) <= 34


@pytest.mark.parametrize(
    "country,bban",
    [("BE", "539007547034"), ("NO", "86011117947"), ("DE", "370400440532013000"), ("FR", "20041010050500013M02606"),
     ("GB", "NWBK60161331926819"), ("MT", "MALT011000012345MTLCAST001S"), ("CH", "00762011623852957")],
)
def test_iban_every_length_with_spaces_dashes_or_none(country: str, bban: str) -> None:
    value = make_iban(country, bban)
    groups = [value[i : i + 4] for i in range(0, len(value), 4)]
    for written in (value, " ".join(groups), "-".join(groups)):
        assert found(f"IBAN {written} thanks", {"iban"}) == [("iban", written)], written
        assert found(f"pay to {written}.", {"iban"}) == [("iban", written)], written


def test_iban_stops_at_its_country_length() -> None:
    a, b = make_iban("BE", "539007547034"), make_iban("NO", "86011117947")
    assert found(f"{a} {b}", {"iban"}) == [("iban", a), ("iban", b)]
    grouped = " ".join(a[i : i + 4] for i in range(0, 16, 4))
    assert found(f"{grouped} 12 units", {"iban"}) == [("iban", grouped)]
    assert found(f"{a}X", {"iban"}) == []  # runs on into a longer token
    assert found("BE00539007547034", {"iban"}) == []  # wrong check digits


# --- e-mail ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "addr",
    ["info@xn--mller-kva.de", "user@xn--80ak6aa92e.xn--p1ai", "kontakt@müller.de", "анна@пример.рф",
     "user@例え.jp", "first.last+tag@sub.example.co.uk"],
)
def test_internationalised_email_domains(addr: str) -> None:
    assert found(f"write to {addr}, thanks", {"email"}) == [("email", addr)]


def test_email_domain_label_rules() -> None:
    assert found("write to a@-bad.com", {"email"}) == []
    assert found("write to a@bad-.com", {"email"}) == []
    assert found("write to a@host_name.com", {"email"}) == []


def test_new_pii_patterns_cannot_split_a_run_two_ways() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from tests.guardrails.test_linear_time import Backtracking

    patterns = {f"{m.__name__}.{k}": v for m in (pii_iban, pii_net) for k, v in vars(m).items()
                if isinstance(v, re.Pattern)}
    assert patterns
    assert not {name for name, p in patterns.items() if Backtracking(p).found}


def test_two_phone_numbers_side_by_side_are_both_found() -> None:
    # each written as its numbering plan groups it (NANP 3-3-4, UK London 2-4-4 after +44)
    text = "call (415) 555-2671 +44 20 7946 0321 today"
    assert found(text, {"phone"}) == [("phone", "(415) 555-2671"), ("phone", "+44 20 7946 0321")]
