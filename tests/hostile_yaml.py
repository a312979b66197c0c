"""Hostile YAML shapes near the policy size cap, and an ordinary policy of the same size.

Used by tests/unit/test_parse_bounds.py and benchmarks/parse_bench.py. Each
shape stresses one part of parsing (merge keys, aliases, anchors, nesting,
keys, scalars, documents) with about `size` bytes of text; each is built
around a small valid policy so that every later stage runs too when the
parser lets the text through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from cascadepolicy.loading.yaml_limits import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_DOCUMENTS,
    MAX_MERGE_KEYS,
    MAX_NODES,
    MAX_TEXT,
)

HEAD = ("version: 1\nname: hostile\nmodels:\n  small: {model: gpt-4o-mini}\n"
        "routes:\n  - default: {model: small}\n")


def _fill(prefix: str, item: Callable[[int], str], size: int, suffix: str = "") -> str:
    """`prefix`, then `item(0)`, `item(1)`, ... while the text stays under `size`, then `suffix`."""
    parts = [prefix]
    used = len(prefix) + len(suffix)
    for index in range(size):
        piece = item(index)
        if used + len(piece) > size:
            break
        parts.append(piece)
        used += len(piece)
    parts.append(suffix)
    return "".join(parts)


def _nested(open_: str, close: str, size: int, inner: str = "x") -> str:
    depth = (size - len(inner)) // (len(open_) + len(close))
    return open_ * depth + inner + close * depth


def _block_depth(size: int) -> str:
    # Level d costs about 2d + 4 bytes, so a file of `size` bytes nests about sqrt(size) deep.
    lines, used, depth = [], 0, 0
    while used + 2 * depth + 4 < size:
        lines.append("  " * depth + "a:")
        used += 2 * depth + 3
        depth += 1
    return "\n".join(lines) + " x\n"


def at_the_limits() -> dict[str, str]:
    """Documents just inside each parsing limit: the most work a document that parses can ask for."""
    values = MAX_NODES - 200
    per_merge = values // (MAX_MERGE_KEYS + 1)
    per_alias = values // (MAX_ALIASES + 1)
    merge_anchor = "x-base: &a {" + ", ".join(f"k{i}: {i}" for i in range(per_merge - 2)) + "}\n"
    alias_anchor = "x-base: &a [" + ", ".join("x" for _ in range(per_alias - 2)) + "]\n"
    return {
        "limit: values": HEAD + "x-keys:\n" + "".join(f"  key{i}: {i}\n" for i in range(values)),
        "limit: merge keys": HEAD + merge_anchor + "x-use:\n" + "".join(f"  m{i}: {{<<: *a, own: {i}}}\n" for i in range(MAX_MERGE_KEYS - 1)),
        "limit: aliases": HEAD + alias_anchor + "x-use: [" + ", ".join("*a" for _ in range(MAX_ALIASES - 1)) + "]\n",
        "limit: depth": HEAD + "x-deep: " + "[" * (MAX_DEPTH - 2) + "x" + "]" * (MAX_DEPTH - 2) + "\n",
        "limit: documents": HEAD + "---\n" * (MAX_DOCUMENTS - 1),
        "limit: text": HEAD + "description: &t " + "w" * (MAX_TEXT // 4 - 100) + "\nfeatures:\n  domains:\n    d: [*t, *t, *t]\n",
    }


def shapes(size: int) -> dict[str, str]:
    """Hostile documents of about `size` bytes, by name."""
    body = size - len(HEAD) - 200
    anchor = "x-base: &a {k0: 0, k1: 1, k2: 2}\nx-use:\n"
    big_anchor = "x-base: &a {" + ", ".join(f"k{i}: {i}" for i in range(2000)) + "}\nx-use:\n"
    anchors = "".join(f"x-a{i}: &a{i} {{k{i}: {i}}}\n" for i in range(200))
    return {
        "merge keys": HEAD + _fill(anchor, lambda i: f"  m{i}: {{<<: *a}}\n", body),
        "merge keys, large anchor": HEAD + _fill(big_anchor, lambda i: f"  m{i}: {{<<: *a, own{i}: 1}}\n", body),
        "merge key lists": HEAD + _fill(anchors + "x-use:\n", lambda i: f"  m{i}: {{<<: [{', '.join(f'*a{j}' for j in range(i % 200, 200))}]}}\n", body),
        "aliases": HEAD + _fill("x-base: &a [x, x, x, x, x, x, x, x, x, x]\nx-use: [", lambda i: "*a, ", body, "*a]\n"),
        "aliases of a long text": HEAD + "description: &t " + "w" * (body // 2) + "\nfeatures:\n  domains:\n    d: ["
                                  + _fill("", lambda i: "*t, ", body // 2 - 200, "*t]\n"),
        "nested aliases": HEAD + _fill("x-l0: &l0 [x, x, x, x]\n", lambda i: f"x-l{i + 1}: &l{i + 1} [*l{i}, *l{i}, *l{i}, *l{i}]\n", body),
        "anchors": HEAD + "x-use:\n" + _fill("", lambda i: f"  k{i}: &a{i} v\n", body),
        "deep flow sequences": HEAD + "x-deep: " + _nested("[", "]", body) + "\n",
        "deep flow mappings": HEAD + "x-deep: " + _nested("{a: ", "}", body) + "\n",
        "deep block mappings": HEAD + "x-deep:\n" + "\n".join("  " + line for line in _block_depth(body).splitlines()) + "\n",
        "deep block sequences": HEAD + "x-deep:\n  " + "- " * (body // 2 - 2) + "x\n",
        "many keys": HEAD + "x-keys:\n" + _fill("", lambda i: f"  key{i}: {i}\n", body),
        "many list items": HEAD + "x-items:\n" + _fill("", lambda i: f"  - {i}\n", body),
        "long plain scalar": HEAD + "description: " + "word " * (body // 5) + "\n",
        "long quoted scalar": HEAD + 'description: "' + "\\u00e9\\n" * (body // 8) + '"\n',
        "long folded scalar": HEAD + "description: >\n" + "  line of text\n" * (body // 15),
        "long key": HEAD + "x" * body + ": 1\n",
        "many documents": HEAD + "---\n" * (body // 4),
        "many comments": HEAD + "# comment line\n" * (body // 15),
        "many flow mappings": HEAD + "x-flow: [" + _fill("", lambda i: "{a: 1, b: 2}, ", body, "{}]\n"),
    }


PROSE = ("Callers on this plan are small teams trying the product; they get short answers from the cheap model "
         "and a daily budget that keeps a runaway script from spending the month in an afternoon. ")


def ordinary(size: int) -> str:
    """A valid policy of about `size` bytes, written as people write large ones: many models and
    tiers, each with a comment and a paragraph of description."""
    def model(i: int) -> str:
        return f"  # model {i}: the default for batch jobs\n  m{i}: {{model: gpt-4o-mini, max_tokens: 512, timeout: 30s}}\n"

    def tier(i: int) -> str:
        return (f"  # tier {i}, agreed with finance\n  t{i}:\n    description: >\n      {PROSE * 4}\n"
                f"    rate: [{{requests: {i + 1}, per: 1h}}, {{tokens: {i + 1000}, per: 1d}}]\n"
                f"    budget: {{usd: {i + 1}.5, per: day, warn_at: 0.8}}\n")

    models = _fill("models:\n", model, size // 10)
    tiers = _fill("tiers:\n", tier, size - len(models) - 200)
    return f"version: 1\nname: ordinary\nstore: {{kind: sqlite, path: state.db}}\n{models}{tiers}routes:\n  - default: {{model: m0}}\n"


def all_shapes(size: int) -> Iterator[tuple[str, str]]:
    yield "ordinary policy", ordinary(size)
    yield from shapes(size).items()
    yield from at_the_limits().items()
