"""Numbers and written equations in free text, for the math checks.

Where this sits: `arithmetic`, `consistency`, `answer_format` and `grounding`
(in `math.py`) read a draft through these helpers. Nothing here calls Python's
`eval`: expressions are parsed by a tiny recursive-descent parser with hard
limits, so a hostile draft cannot hang or escape.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_EXPRESSION_TOKENS = 64
MAX_EXPONENT = 64

# A number as people write it: $1,200.50, 3.5, .5, 30%, 1 200 is two numbers.
NUMBER_RE = re.compile(
    r"(?<![\w.])(?P<neg>-)?\$?\s?(?P<body>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?P<pct>\s?%)?"
)
# Calculator annotations some models emit (GSM8K style): "$<<9*2=18>>18".
ANNOTATION_RE = re.compile(r"<<([^<>=]{1,200})=([^<>]{1,40})>>")
_TOKEN_RE = re.compile(
    r"(?P<num>\$?\s?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?:\s?%)?)"
    r"|(?P<op>\\\*|[-+*/×÷·^−=()])"
    r"|(?P<word>[A-Za-z]+)"
    r"|(?P<space>[ \t]+)"
    r"|(?P<other>\S|\n)"
)
_PERCENT_WORD_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s?percent\b", re.IGNORECASE)
_DIVISOR_RE = re.compile(r"(?:[/÷]|divided by)\s*\$?(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\d%])", re.IGNORECASE)
_OPS = {"+": "+", "-": "-", "−": "-", "*": "*", "\\*": "*", "×": "*", "·": "*", "/": "/", "÷": "/", "^": "^"}
_MAX_UNIT_WORDS = 2
NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    "dozen": 12, "half": 0.5, "twice": 2, "double": 2, "triple": 3, "thrice": 3, "quarter": 0.25,
}  # fmt: skip


def parse_number(text: str) -> float | None:
    """Parse one written number ("$1,200", "30%", "-2.5"); percentages become fractions."""
    match = NUMBER_RE.fullmatch(text.strip())
    if match is None:
        return None
    value = float(match["body"].replace(",", ""))
    if match["pct"]:
        value /= 100
    return -value if match["neg"] else value


def numbers_in(text: str, *, words: bool = False) -> list[float]:
    """Every number written in `text`, in order; with `words`, also "three", "dozen"..."""
    text = ANNOTATION_RE.sub("", text)
    found: list[tuple[int, float]] = []
    for match in NUMBER_RE.finditer(text):
        # percentages stay in their written unit here: "30%" is compared as 30
        found.append((match.start(), float(match["body"].replace(",", ""))))
    if words:
        for match in re.finditer(r"[A-Za-z]+", text):
            value = NUMBER_WORDS.get(match.group().lower())
            if value is not None:
                found.append((match.start(), float(value)))
    return [value for _, value in sorted(found)]


def percentages_in(text: str) -> list[float]:
    """The numbers `text` writes as percentages ("30%", "30 percent"), in their written unit (30)."""
    text = ANNOTATION_RE.sub("", text)
    found = [float(m["body"].replace(",", "")) for m in NUMBER_RE.finditer(text) if m["pct"]]
    found += [float(m[1].replace(",", "")) for m in _PERCENT_WORD_RE.finditer(text)]
    return found


def divisors_in(text: str) -> list[float]:
    """The numbers `text` divides by: "24 / 6", "24 ÷ 6", "divided by 6", "<<24/6=4>>"."""
    return [float(m[1].replace(",", "")) for m in _DIVISOR_RE.finditer(text)]


def percent_forms(percent: float) -> tuple[float, ...]:
    """The ways a worked answer writes p%: p, p/100, and the "p% more / p% less" factors and shares."""
    share = percent / 100
    return (percent, share, 1 + share, 1 - share, 100 + percent, 100 - percent)


@dataclass(frozen=True)
class Equation:
    """One written claim `left = right`; `text` is how it reads in the draft."""

    text: str
    left: float
    right: float
    right_decimals: int | None  # decimals shown on the written side; None when it is an expression
    operands: tuple[float, ...] = ()  # the numbers the computing side starts from


class _ParseError(Exception):
    pass


class _Parser:
    """expr := term (('+'|'-') term)*; term := power (('*'|'/') power)*; power := unary ('^' unary)?"""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def parse(self) -> float:
        if not self.tokens or len(self.tokens) > MAX_EXPRESSION_TOKENS:
            raise _ParseError
        value = self._expr()
        if self.pos != len(self.tokens):
            raise _ParseError
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise _ParseError
        self.pos += 1
        return token

    def _expr(self) -> float:
        value = self._term()
        while self._peek() in ("+", "-"):
            value = value + self._term() if self._take() == "+" else value - self._term()
        return value

    def _term(self) -> float:
        value = self._power()
        while True:
            token = self._peek()
            if token in ("*", "/"):
                self._take()
                right = self._power()
                if token == "/":
                    if right == 0:
                        raise _ParseError
                    value /= right
                else:
                    value *= right
            elif token == "(":  # implicit multiplication: 2(3 + 4)
                value *= self._power()
            else:
                return value

    def _power(self) -> float:
        base = self._unary()
        if self._peek() == "^":
            self._take()
            exponent = self._unary()
            if abs(exponent) > MAX_EXPONENT or (base == 0 and exponent < 0):
                raise _ParseError
            return float(base**exponent)
        return base

    def _unary(self) -> float:
        token = self._take()
        if token == "-":
            return -self._unary()
        if token == "(":
            value = self._expr()
            if self._take() != ")":
                raise _ParseError
            return value
        number = parse_number(token)
        if number is None:
            raise _ParseError
        return number


def evaluate(tokens: list[str]) -> float | None:
    """The value of a tokenised expression, or None when it does not parse."""
    try:
        return _Parser(tokens).parse()
    except (_ParseError, OverflowError):
        return None


def _runs(text: str) -> list[tuple[int, list[str]]]:
    """Maximal stretches of numbers, operators and '=' with where each starts; unit words after a number are dropped."""
    tokens = [(m.lastgroup or "", m.group(), m.start()) for m in _TOKEN_RE.finditer(text)]
    tokens = [token for token in tokens if token[0] != "space"]
    raw = [(kind, tok) for kind, tok, _ in tokens]
    runs: list[tuple[int, list[str]]] = []
    current: list[str] = []
    begin = 0
    i = 0
    while i < len(raw):
        kind, tok = raw[i]
        if not current:
            begin = tokens[i][2]
        prev = current[-1] if current else None
        prev_is_operand = prev is not None and (prev == ")" or parse_number(prev) is not None)
        if kind == "num":
            if prev_is_operand:  # two numbers in a row: a new claim starts
                runs.append((begin, current))
                current, begin = [], tokens[i][2]
            current.append(tok.replace(" ", ""))
        elif kind == "op":
            current.append(_OPS.get(tok, tok))
        elif kind == "word" and current:
            word = tok.lower()
            nxt = raw[i + 1] if i + 1 < len(raw) else ("", "")
            nxt_is_operand = nxt[0] == "num" or nxt[1] == "("
            if word in ("x", "times") and prev_is_operand and nxt_is_operand:
                current.append("*")
            elif word == "of" and prev is not None and prev.endswith("%") and nxt_is_operand:
                current.append("*")
            elif prev_is_operand and _unit_words_then_operator(raw, i):
                pass  # "3 hours * 60 = 180": the unit does not break the claim
            else:
                runs.append((begin, current))
                current = []
        else:
            if current:
                runs.append((begin, current))
            current = []
        i += 1
    if current:
        runs.append((begin, current))
    return [(at, run) for at, run in runs if "=" in run]


def _unit_words_then_operator(raw: list[tuple[str, str]], start: int) -> bool:
    """True when up to two words at `start` sit between a number and an operator or '='."""
    for offset in range(_MAX_UNIT_WORDS + 1):
        if start + offset >= len(raw):
            return False
        kind, tok = raw[start + offset]
        if kind == "op" and tok not in ("(", ")"):
            return True
        if kind != "word" or tok.lower() in ("x", "times", "and", "or", "so", "then"):
            return False
    return False


def _has_operator(segment: list[str]) -> bool:
    return any(tok in ("+", "-", "*", "/", "^") for tok in segment[1:]) or (
        len(segment) > 1 and segment[0] in ("(",)
    )


def equations_in(text: str) -> list[Equation]:
    """Every arithmetic claim the text writes, chains included ("3 * 4 + 2 = 14 = 7 * 2").

    Calculator annotations (`<<a*b=c>>`) are claims too and are removed from the
    prose before it is scanned. In a chain, each '=' is a claim between its two
    neighbours; a running total written as `12 + 3 = 15 + 2 = 17` is read the
    way its author meant it (15 is the value of `12 + 3`). A pair is only a
    claim when one side computes something, so `1 hour = 60 minutes` is not.
    """
    found: list[tuple[int, list[Equation]]] = []
    for match in ANNOTATION_RE.finditer(text):
        found.append((match.start(), _claims(_tokens(match[1]) + ["="] + _tokens(match[2]), match.group())))
    prose, where = _without_annotations(text)
    for at, run in _runs(prose):
        found.append((where(at), _claims(run, " ".join(run))))
    found.sort(key=lambda item: item[0])  # in reading order: "the last result" means the last one written
    return [equation for _, claims in found for equation in claims]


def _without_annotations(text: str) -> tuple[str, Callable[[int], int]]:
    """`text` with calculator annotations removed, and a map from its offsets back to `text`'s."""
    pieces: list[str] = []
    shifts: list[tuple[int, int]] = [(0, 0)]  # (offset in prose, characters removed before it)
    removed = last = 0
    for match in ANNOTATION_RE.finditer(text):
        pieces.append(text[last : match.start()])
        removed += match.end() - match.start()
        last = match.end()
        shifts.append((last - removed, removed))
    pieces.append(text[last:])

    def where(offset: int) -> int:
        return offset + next(shift for at, shift in reversed(shifts) if at <= offset)

    return "".join(pieces), where


def _tokens(expression: str) -> list[str]:
    """An annotation's expression as parser tokens; anything unexpected makes it unparseable."""
    tokens: list[str] = []
    for match in _TOKEN_RE.finditer(expression):
        kind, tok = match.lastgroup, match.group()
        if kind == "num":
            tokens.append(tok.replace(" ", ""))
        elif kind == "op":
            tokens.append(_OPS.get(tok, tok))
        elif kind == "word" and tok.lower() == "x":
            tokens.append("*")
        elif kind != "space":
            return ["?"]
    return tokens


def _claims(run: list[str], text: str) -> list[Equation]:
    segments: list[list[str]] = [[]]
    for tok in run:
        if tok == "=":
            segments.append([])
        else:
            segments[-1].append(tok)
    segments = _trim_edges(segments)
    values = [evaluate(segment) for segment in segments]
    claims: list[Equation] = []
    for i in range(len(segments) - 1):
        left, right = values[i], values[i + 1]
        seg_l, seg_r = segments[i], segments[i + 1]
        if left is None or right is None or not (_has_operator(seg_l) or _has_operator(seg_r)):
            continue
        shown: int | None = decimals(seg_r[0]) if len(seg_r) == 1 else None
        if _has_operator(seg_r) and not _has_operator(seg_l):
            left, right = right, left  # "14 = 3 * 4 + 2"
            shown = decimals(seg_l[0]) if len(seg_l) == 1 else None
        elif _has_operator(seg_r):
            head = parse_number(seg_r[0])
            if head is not None and head != right and close(head, left, tolerance=1e-9, shown_decimals=decimals(seg_r[0])):
                right, shown = head, decimals(seg_r[0])  # running total: "12 + 3 = 15 + 2 = 17"
        computing = seg_r if _has_operator(seg_r) and not _has_operator(seg_l) else seg_l
        written = seg_l if computing is seg_r else seg_r
        if len(written) == 1 and written[0].endswith("%") and not any(t.endswith("%") for t in computing):
            if close(right * 100, left, tolerance=1e-9, shown_decimals=shown):
                right *= 100  # "(6 / 12) * 100 = 50%": the percent sign names the unit the working computed in
        operands = tuple(v for v in (parse_number(tok) for tok in computing) if v is not None)
        claims.append(Equation(text=text, left=left, right=right, right_decimals=shown, operands=operands))
    return claims


def _trim_edges(segments: list[list[str]]) -> list[list[str]]:
    """Drop operators dangling at the run's ends ("= 5 +"), so a claim still parses."""
    first, last = segments[0], segments[-1]
    while first and first[0] in ("*", "/", "^", "+", ")"):
        first.pop(0)
    while last and last[-1] in ("*", "/", "^", "+", "-", "("):
        last.pop()
    return segments


def decimals(text: str) -> int:
    """How many decimals a written number shows: "3.50" -> 2, "$1,200" -> 0."""
    match = NUMBER_RE.search(text)
    if match is None or "." not in match["body"]:
        return 0
    return len(match["body"].split(".")[1])


def close(written: float, true: float, *, tolerance: float, shown_decimals: int | None) -> bool:
    """Is `written` a correct statement of `true`? Rounding to the shown decimals is accepted."""
    if abs(written - true) <= tolerance * max(1.0, abs(true)):
        return True
    if shown_decimals is None or float(true).is_integer():
        return False
    return abs(written - true) <= 0.5 * 10.0**-shown_decimals + 1e-9
