"""Bad architecture input, fuzzed: ``parse`` and ``from_categorical`` of every registered space
either give a valid architecture that round-trips, or raise ``InvalidArchitectureError`` (an
``InfonasError`` with a message): never another exception."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infonas.exceptions import InfonasError, InvalidArchitectureError
from search_spaces import SPACES, get_space

#: Deterministic (derandomize) and without an example database: CI sees the same examples every
#: run, and the tests leave no .hypothesis folder behind.
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

SPACE_NAMES = sorted(SPACES)
#: Valid strings of each space, the seeds of the mutations below.
VALID = {name: [get_space(name).format(get_space(name).sample(np.random.default_rng(seed))) for seed in range(3)]
         for name in SPACE_NAMES}
#: Characters that matter to the formats (separators, digits, op-name letters) plus hostile ones.
ALPHABET = st.sampled_from(list("|+~,.0123456789dkxnor_conv3x1skipavgpol ") + ["\n", "\t", "\x00", "\u00a0",
                                                                                "\ufeff", "é", "\U0001f600"])


def check_parse(space, text: str) -> None:
    """The property: a valid, round-tripping architecture or one ``InvalidArchitectureError``."""
    try:
        arch = space.parse(text)
    except InvalidArchitectureError as error:
        assert isinstance(error, InfonasError) and str(error), repr(text)
        return
    assert space.validate(arch) is arch
    assert space.parse(space.format(arch)) == arch
    assert space.from_categorical(space.to_categorical(arch)) == arch


def _tokens(text: str) -> list[str]:
    """``text`` cut at (and keeping) its separators, so mutations can move whole tokens."""
    out, current = [], ""
    for char in text:
        if char in "|+~,":
            out.extend([current, char] if current else [char])
            current = ""
        else:
            current += char
    return out + ([current] if current else [])


@st.composite
def mutated(draw, name: str) -> str:
    """A valid string of space ``name`` with a few characters or tokens deleted, duplicated,
    swapped or replaced."""
    pieces = list(draw(st.sampled_from(VALID[name])))
    if draw(st.booleans()):
        pieces = _tokens("".join(pieces))
    for _ in range(draw(st.integers(1, 3))):
        if not pieces:
            break
        i = draw(st.integers(0, len(pieces) - 1))
        j = draw(st.integers(0, len(pieces) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", "replace", "insert"]))
        if action == "delete":
            del pieces[i]
        elif action == "duplicate":
            pieces.insert(i, pieces[i])
        elif action == "swap":
            pieces[i], pieces[j] = pieces[j], pieces[i]
        elif action == "replace":
            pieces[i] = draw(st.text(ALPHABET, max_size=4))
        else:
            pieces.insert(i, draw(st.text(ALPHABET, min_size=1, max_size=4)))
    return "".join(pieces)


@pytest.mark.parametrize("name", SPACE_NAMES)
@FUZZ
@given(text=st.text())
def test_parse_of_arbitrary_text(name, text):
    check_parse(get_space(name), text)


@pytest.mark.parametrize("name", SPACE_NAMES)
@FUZZ
@given(data=st.data())
def test_parse_of_mutated_valid_strings(name, data):
    check_parse(get_space(name), data.draw(mutated(name)))


@pytest.mark.parametrize("name", SPACE_NAMES)
@FUZZ
@given(text=st.text(ALPHABET, max_size=80))
def test_parse_of_text_in_the_formats_alphabet(name, text):
    check_parse(get_space(name), text)


@pytest.mark.parametrize("name", SPACE_NAMES)
@FUZZ
@given(data=st.data())
def test_from_categorical_of_arbitrary_ints(name, data):
    space = get_space(name)
    # Mostly the right length, so the values (small, negative, huge) are what gets checked.
    size = data.draw(st.one_of(st.just(len(space.choices)), st.integers(0, 2 * len(space.choices))))
    indices = data.draw(st.lists(st.one_of(st.integers(-4, 5), st.integers()), min_size=size, max_size=size))
    try:
        arch = space.from_categorical(indices)
    except InvalidArchitectureError as error:
        assert str(error)
        return
    assert space.validate(arch) is arch
    assert list(space.to_categorical(arch)) == indices  # an exact inverse: no index taken modulo anything


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_from_categorical_refuses_negative_indices(name):
    """Regression: ``from_categorical([-1, ...])`` returned the last option of every position (Python's
    negative indexing), an architecture whose ``to_categorical`` is not the input."""
    space = get_space(name)
    with pytest.raises(InvalidArchitectureError, match=r"index -1 at position 0 .* between 0 and"):
        space.from_categorical([-1] * len(space.choices))


@pytest.mark.parametrize("name", SPACE_NAMES)
def test_parse_of_a_non_string_is_an_invalid_architecture(name):
    for value in (None, 3, b"|none~0|", ["|"]):
        with pytest.raises(InvalidArchitectureError, match="must be a str"):
            get_space(name).parse(value)
