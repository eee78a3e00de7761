"""DARTS genotypes as the reference code (Liu et al., ICLR 2019, ``genotypes.py``) writes them.

A genotype lists, per cell, eight ``(operation, input)`` pairs: two per intermediate node, in
node order. Node ``i`` (0-based; the cell's state ``i + 2``) reads two distinct states among
``0 .. i + 1``: the cell inputs ``c_{k-2}`` (0) and ``c_{k-1}`` (1) and the earlier nodes. The
cell output concatenates states 2..5, written ``[2, 3, 4, 5]`` (or ``range(2, 6)``, as a searched
genotype prints in Python 3)::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
             reduce=[...], reduce_concat=[2, 3, 4, 5])

``parse_genotype`` reads that text (the repr of the reference ``Genotype`` namedtuple, optionally
after ``NAME =`` as in ``genotypes.py``) without evaluating it, and ``format_genotype`` writes it
back in the namedtuple's repr form; ``check_genotype`` enforces the space's rules.

Example:
    >>> genotype = parse_genotype(DARTS_V2)
    >>> genotype.reduce[2:4]
    (('skip_connect', 2), ('max_pool_3x3', 1))
    >>> format_genotype(genotype) == DARTS_V2
    True
"""

from __future__ import annotations

import re
from typing import NamedTuple, NoReturn

from infonas.exceptions import InvalidArchitectureError

__all__ = ["CONCAT", "DARTS_STEPS", "DARTS_V1", "DARTS_V2", "PRIMITIVES", "Genotype", "check_genotype",
           "format_genotype", "parse_genotype"]

#: The operations of the reference code's ``PRIMITIVES``, in its order.
PRIMITIVES: tuple[str, ...] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                               "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
#: Intermediate nodes per cell.
DARTS_STEPS = 4
#: The states every cell concatenates into its output: all intermediate nodes.
CONCAT: tuple[int, ...] = tuple(range(2, 2 + DARTS_STEPS))

#: The two genotypes published with the reference code (first- and second-order DARTS on CIFAR-10).
DARTS_V1 = ("Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
            "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])")
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")

_EXAMPLE = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5], " \
           "reduce=[...], reduce_concat=[2, 3, 4, 5])"
_CELLS = ("normal", "reduce")
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
# Whitespace, names, quoted strings without escapes, integers and the punctuation of a repr: all a
# genotype's text needs. Reading it with a tokenizer, never eval or ast.literal_eval, keeps hostile
# text (deep nesting, huge literals) from raising anything but InvalidArchitectureError.
_TOKEN = re.compile(r"""(?P<space>\s+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<string>'[^'\\\n]*'|"[^"\\\n]*")"""
                    r"|(?P<int>[0-9]+)|(?P<punct>[()\[\],=])")
# Longer digit runs are out of range anyway; int() of thousands of digits would raise ValueError.
_MAX_DIGITS = 6


class Genotype(NamedTuple):
    """A DARTS genotype: per cell its ``(operation, input)`` pairs and the states it concatenates.

    Example:
        >>> Genotype((("skip_connect", 0),) * 2, CONCAT, (), CONCAT).normal_concat
        (2, 3, 4, 5)
    """

    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]


def _show(text: str) -> str:
    return repr(text) if len(text) <= 100 else repr(text[:97]) + "..."


class _Reader:
    """The tokens of a genotype's text and a cursor over them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                self.fail(f"character {text[position]!r} at position {position} has no place in a genotype")
            assert match.lastgroup is not None
            if match.lastgroup != "space":
                self.tokens.append((match.lastgroup, match.group(), position))
            position = match.end()
        self.index = 0

    def fail(self, problem: str) -> NoReturn:
        raise InvalidArchitectureError(f"malformed DARTS genotype {_show(self.text)}: {problem}; write it as the "
                                       f"reference code prints a Genotype, e.g. {_EXAMPLE}")

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.index] if self.index < len(self.tokens) else ("end", "", len(self.text))

    def take(self, kind: str, value: str | None = None) -> str:
        token_kind, token, position = self.peek()
        if token_kind != kind or (value is not None and token != value):
            wanted = repr(value) if value is not None else f"a {kind}"
            found = "the end of the text" if token_kind == "end" else repr(token)
            self.fail(f"expected {wanted} at position {position}, found {found}")
        self.index += 1
        return token

    def accept(self, value: str) -> bool:
        if self.peek()[0] == "punct" and self.peek()[1] == value:
            self.index += 1
            return True
        return False

    def integer(self) -> int:
        token = self.take("int")
        return int(token) if len(token) <= _MAX_DIGITS else 10**_MAX_DIGITS

    def sequence(self, item: str) -> list:
        """``[a, b, ...]`` or ``(a, b, ...)`` (a trailing comma allowed) of pairs or integers."""
        closing = {"[": "]", "(": ")"}
        kind, token, _ = self.peek()
        if kind != "punct" or token not in closing:
            self.take("punct", "[")
        self.index += 1
        items: list = []
        while not self.accept(closing[token]):
            items.append(self.pair() if item == "pair" else self.integer())
            if not self.accept(","):
                self.take("punct", closing[token])
                break
        return items

    def pair(self) -> tuple[str, int]:
        self.take("punct", "(")
        op = self.take("string")[1:-1]
        self.take("punct", ",")
        index = self.integer()
        self.accept(",")
        self.take("punct", ")")
        return op, index

    def concat(self) -> tuple[int, ...]:
        if self.peek()[:2] == ("name", "range"):
            self.index += 1
            self.take("punct", "(")
            start = self.integer()
            self.take("punct", ",")
            stop = self.integer()
            self.take("punct", ")")
            return tuple(range(start, min(stop, start + 100)))
        return tuple(self.sequence("int"))


def parse_genotype(text: str) -> Genotype:
    """Read the reference code's printed ``Genotype(...)`` (its keywords in any order, each once;
    concats as lists, tuples or ``range(a, b)``) and check it with ``check_genotype``.

    Example:
        >>> parse_genotype(DARTS_V1).normal[:2]
        (('sep_conv_3x3', 1), ('sep_conv_3x3', 0))
    """
    if not isinstance(text, str):
        raise InvalidArchitectureError(f"a DARTS genotype must be a str, got {type(text).__name__}; pass its text, "
                                       f"e.g. {_EXAMPLE}")
    reader = _Reader(text)
    if reader.peek()[0] == "name" and reader.index + 1 < len(reader.tokens) and reader.tokens[1][1] == "=":
        reader.index = 2  # ``DARTS_V2 = Genotype(...)``, as a line of genotypes.py reads
    reader.take("name", "Genotype")
    reader.take("punct", "(")
    fields: dict[str, object] = {}
    while not reader.accept(")"):
        position = reader.peek()[2]
        name = reader.take("name")
        if name not in _FIELDS or name in fields:
            reader.fail(f"keyword {name!r} at position {position} is " + (
                "given twice" if name in fields else f"not a Genotype field; the fields are {list(_FIELDS)}"))
        reader.take("punct", "=")
        fields[name] = reader.concat() if name.endswith("_concat") else tuple(reader.sequence("pair"))
        if not reader.accept(","):
            reader.take("punct", ")")
            break
    reader.take("end")
    missing = [name for name in _FIELDS if name not in fields]
    if missing:
        reader.fail(f"it lacks the field(s) {missing}; a Genotype has all of {list(_FIELDS)}")
    return check_genotype(Genotype(*(fields[name] for name in _FIELDS)))  # type: ignore[arg-type]


def _pair(pair: object, cell: str, position: int) -> tuple[str, int]:
    if (isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[0], str)
            and isinstance(pair[1], int) and not isinstance(pair[1], bool)):
        return pair[0], pair[1]
    raise InvalidArchitectureError(f"pair {position} of the {cell} cell is {pair!r}, but each entry of a DARTS "
                                   f"cell is an (operation name, input index) pair: write it as ('sep_conv_3x3', 0)")


def check_genotype(genotype: Genotype) -> Genotype:
    """``genotype`` if it is a cell pair of the DARTS space, else ``InvalidArchitectureError``
    naming the rule broken: eight pairs per cell, known operations, node ``i`` reading two
    distinct states in ``0 .. i + 1``, and every cell concatenating states 2..5.

    Example:
        >>> check_genotype(parse_genotype(DARTS_V2)).reduce_concat
        (2, 3, 4, 5)
    """
    for cell in _CELLS:
        pairs, concat = getattr(genotype, cell), tuple(getattr(genotype, f"{cell}_concat"))
        if len(pairs) != 2 * DARTS_STEPS:
            raise InvalidArchitectureError(
                f"a DARTS cell lists two (operation, input) pairs for each of its {DARTS_STEPS} nodes, "
                f"{2 * DARTS_STEPS} in all; the {cell} cell has {len(pairs)}: give {2 * DARTS_STEPS} pairs")
        for position, pair in enumerate(pairs):
            node = position // 2
            op, index = _pair(pair, cell, position)
            if op not in PRIMITIVES:
                raise InvalidArchitectureError(
                    f"unknown operation {op!r} in pair {position} (node {node}) of the {cell} cell; the DARTS "
                    f"space's operations are {list(PRIMITIVES)}: use one of those")
            if not 0 <= index <= node + 1:
                raise InvalidArchitectureError(
                    f"node {node} of the {cell} cell reads input {index} (pair {position}), but node i reads "
                    f"only states 0..i+1 (the two cell inputs and earlier nodes): use an input in 0..{node + 1}")
        for node in range(DARTS_STEPS):
            (op_a, a), (op_b, b) = pairs[2 * node], pairs[2 * node + 1]
            if a == b:
                raise InvalidArchitectureError(
                    f"node {node} of the {cell} cell reads input {a} twice ({op_a!r} and {op_b!r}), but a node "
                    f"sums two distinct inputs: change one of them to another input in 0..{node + 1}")
        if concat != CONCAT:
            raise InvalidArchitectureError(
                f"every DARTS cell concatenates all its intermediate nodes, {list(CONCAT)}; {cell}_concat is "
                f"{list(concat)}: write {cell}_concat=[2, 3, 4, 5] (or range(2, 6))")
    return Genotype(tuple((str(op), int(i)) for op, i in genotype.normal), CONCAT,
                    tuple((str(op), int(i)) for op, i in genotype.reduce), CONCAT)


def format_genotype(genotype: Genotype) -> str:
    """The reference ``Genotype`` namedtuple's repr: pairs in the given order, concats as lists.

    Example:
        >>> format_genotype(parse_genotype(DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)"))) == DARTS_V2
        True
    """
    def cell(pairs: tuple[tuple[str, int], ...]) -> str:
        return "[" + ", ".join(f"({op!r}, {index})" for op, index in pairs) + "]"

    return (f"Genotype(normal={cell(genotype.normal)}, normal_concat={list(genotype.normal_concat)}, "
            f"reduce={cell(genotype.reduce)}, reduce_concat={list(genotype.reduce_concat)})")
