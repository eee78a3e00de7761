"""Method specs of the search benchmark: a registered strategy, optionally with constructor options.

A spec is ``NAME`` or ``NAME[KEY=VALUE;KEY=VALUE...]``: ``bo-ei[warp=none]`` runs ``bo-ei`` with
``warp="none"``, which makes ablations possible without registering a strategy per variant.
Values are read as ``true``/``false`` (bool), then a whole number, then a finite float, else a
string. The spec's canonical text (``label``, spaces dropped) keys the results and the resume log.

Example:
    >>> spec = parse_method(" gp-onehot[ warp = copula ; maxiter=50 ]")
    >>> spec.label, spec.strategy, spec.options
    ('gp-onehot[warp=copula;maxiter=50]', 'gp-onehot', {'warp': 'copula', 'maxiter': 50})
    >>> [s.label for s in parse_methods("bo-ei,bo-ei[warp=none]")]
    ['bo-ei', 'bo-ei[warp=none]']
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from infonas.exceptions import InvalidArgumentError

__all__ = ["MethodSpec", "check_options", "check_unique", "parse_method", "parse_methods", "parse_value",
           "strategy_options", "with_option"]

_SPEC = re.compile(r"^\s*([^\[\];=,\s]+)\s*(?:\[(.*)\])?\s*$", re.DOTALL)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Arguments every strategy gets from the study, never from a spec.
_FROM_STUDY = frozenset({"self", "space", "objective", "seed", "maximize", "objectives", "computed", "fidelities"})
_FORM = "NAME or NAME[KEY=VALUE;KEY=VALUE] (e.g. 'bo-ei[warp=none;maxiter=50]')"


@dataclass(frozen=True)
class MethodSpec:
    """One parsed spec: ``strategy`` (a registered name) built with keyword arguments ``options``."""

    label: str
    strategy: str
    options: dict[str, Any] = field(default_factory=dict)


def parse_value(text: str) -> bool | int | float | str:
    """An option value: ``true``/``false`` as bool, then int, then finite float, else the text itself.

    Example:
        >>> [parse_value(t) for t in ("True", "50", "0.5", "none", "inf")]
        [True, 50, 0.5, 'none', 'inf']
    """
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    # "nan"/"inf" stay strings: no option takes them as numbers, and a string fails louder.
    return number if math.isfinite(number) else text


def parse_method(spec: str, names: Collection[str] | None = None) -> MethodSpec:
    """The ``MethodSpec`` of one spec text; ``InvalidArgumentError`` for an unknown method or a
    malformed spec (the options themselves are checked by the method that receives them).

    ``names``: the known method names (default: the registered strategies).
    """
    from infonas.strategies import STRATEGIES

    known = STRATEGIES if names is None else names

    match = _SPEC.match(spec) if isinstance(spec, str) else None
    if match is None:
        raise InvalidArgumentError(f"a method must be written {_FORM}, got {spec!r}: fix the brackets, or drop "
                                   "',' ';' '=' and spaces from the name")
    name, body = match.group(1), match.group(2)
    if name not in known:
        where = f" in {spec.strip()!r}" if spec.strip() != name else ""
        raise InvalidArgumentError(f"unknown method {name!r}{where}; choose from "
                                   f"{', '.join(sorted(known))}")
    if body is None:
        return MethodSpec(name, name)
    options: dict[str, Any] = {}
    texts: list[str] = []
    for item in body.split(";"):
        key, equals, raw = (part.strip() for part in item.partition("="))
        if not equals or not _KEY.match(key) or not raw or re.search(r"[\[\],\s]", raw):
            raise InvalidArgumentError(
                f"each option of a method must be KEY=VALUE (KEY an identifier; VALUE without spaces, brackets or "
                f"','), options separated by ';'; got {item.strip()!r} in {spec.strip()!r}: write {_FORM}")
        if key in options:
            raise InvalidArgumentError(f"option {key!r} is given twice in {spec.strip()!r}; give each option once")
        options[key] = parse_value(raw)
        texts.append(f"{key}={raw}")
    return MethodSpec(f"{name}[{';'.join(texts)}]", name, options)


def with_option(spec: MethodSpec, key: str, value: bool | float | str) -> MethodSpec:
    """``spec`` with option ``key=value`` added last (its label too), or ``spec`` itself where it
    sets ``key`` already: a spec's own option wins over one given for every method.

    Example:
        >>> with_option(parse_method("bo-ei[warp=none]"), "pool", "sampled").label
        'bo-ei[warp=none;pool=sampled]'
        >>> with_option(parse_method("bo-ei[pool=enumerate]"), "pool", "sampled").label
        'bo-ei[pool=enumerate]'
    """
    if key in spec.options:
        return spec
    text = str(value).lower() if isinstance(value, bool) else str(value)
    texts = [spec.label[len(spec.strategy) + 1:-1]] if spec.options else []
    return MethodSpec(f"{spec.strategy}[{';'.join([*texts, f'{key}={text}'])}]", spec.strategy,
                      {**spec.options, key: value})


def _split(text: str) -> list[str]:
    """Comma-separated items, commas inside brackets kept (so that they are reported, not split)."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item for item in items if item.strip()]


def parse_methods(text: str, names: Collection[str] | None = None) -> list[MethodSpec]:
    """The specs of a comma-separated ``--methods`` value, each once (same strategy and options).

    Example:
        >>> parse_methods("rs,rs")
        Traceback (most recent call last):
        ...
        infonas.exceptions.InvalidArgumentError: method 'rs' is listed twice (as 'rs' and 'rs'); list each method once
    """
    specs = [parse_method(item, names) for item in _split(text)]
    if not specs:
        raise InvalidArgumentError(f"give at least one method, as a comma-separated list of {_FORM}; got {text!r}")
    check_unique(specs)
    return specs


def check_unique(specs: list[MethodSpec]) -> None:
    """``InvalidArgumentError`` if two specs name the same strategy with the same options (in any order):
    their results would share one key."""
    seen: dict[tuple, str] = {}
    for spec in specs:
        token = (spec.strategy, tuple(sorted((k, repr(v)) for k, v in spec.options.items())))
        if token in seen:
            raise InvalidArgumentError(f"method {spec.strategy!r} is listed twice (as {seen[token]!r} and "
                                       f"{spec.label!r}); list each method once")
        seen[token] = spec.label


def strategy_options(cls: type) -> list[str]:
    """The keyword arguments a strategy class takes from a spec: its ``__init__``'s, and those of the
    bases it forwards ``**options`` to (the study's own arguments left out).

    Example:
        >>> from infonas.strategies.baselines import RegularizedEvolution
        >>> strategy_options(RegularizedEvolution)
        ['max_mutation_tries', 'population_size', 'sample_size']
    """
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        parameters = inspect.signature(vars(klass)["__init__"]).parameters.values()
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break  # options stop here: this class forwards nothing further
    return sorted(names - _FROM_STUDY)


def check_options(spec: MethodSpec, build: Callable[[dict[str, Any]], Any]) -> Any:
    """What ``build(spec.options)`` returns, or ``InvalidArgumentError`` if the strategy of ``spec``
    rejects its options.

    ``build(options)`` makes the strategy as a benchmark run would. With options, it is built
    without them first (whatever fails then is no fault of the options and propagates).
    """
    if not spec.options:
        return build({})
    plain = build({})
    try:
        return build(spec.options)
    except (TypeError, ValueError) as error:
        accepted = strategy_options(type(plain))
        raise InvalidArgumentError(
            f"method {spec.label!r}: strategy {spec.strategy!r} rejects the options {spec.options} ({error}); "
            f"give only options {type(plain).__name__} takes "
            f"({', '.join(accepted) if accepted else 'it takes none'}), with values it accepts") from None
