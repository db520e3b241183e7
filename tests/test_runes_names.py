"""Rune names, spaced names and rune ids (mesh_magics.runes.protocol.names)."""

from __future__ import annotations

import pytest
from _shared import shared_json

from mesh_magics.errors import RuneNameError, RunesError
from mesh_magics.runes import (
    format_rune_id,
    format_spaced_rune,
    parse_rune_id,
    parse_spaced_rune,
    rune_name,
    rune_number,
)
from mesh_magics.runes.protocol.names import minimum_rune_at_height

U128_MAX = 2**128 - 1
VECTORS = shared_json("runestone_vectors_public.json")

NAME_TABLE = [
    ("A", 0),
    ("B", 1),
    ("Z", 25),
    ("AA", 26),
    ("AB", 27),
    ("AZ", 51),
    ("BA", 52),
    ("AAAAAAAAAAAAA", 99246114928149462),
    ("UNCOMMONGOODS", 2055900680524219742),
    ("DOGGOTOTHEMOON", 11382812169668186247),
    ("AAAAAAAAAAAAAAAAAAAAAAAAAAA", 6402364363415443603228541259936211926),
    ("BCGDENLQRQWDSLRUGSNLBTMFIJAV", U128_MAX),
]


@pytest.mark.parametrize(("name", "n"), NAME_TABLE, ids=[t[0] for t in NAME_TABLE])
def test_name_table(name, n):
    assert rune_name(n) == name
    assert rune_number(name) == n


@pytest.mark.parametrize("case", VECTORS["rune_names"], ids=lambda c: c["name"])
def test_public_name_vectors(case):
    assert rune_name(int(case["n"])) == case["name"]
    assert rune_number(case["name"]) == int(case["n"])


def test_length_boundaries_are_all_as():
    # "all As" of length L is the first name of that length: Z..Z + 1
    for length in range(2, 29):
        n = rune_number("A" * length)
        assert rune_name(n) == "A" * length
        assert rune_name(n - 1) == "Z" * (length - 1)


@pytest.mark.parametrize(
    "name",
    ["BCGDENLQRQWDSLRUGSNLBTMFIJAW", "BCGDENLQRQWDSLRUGSNLBTMFIJBA", "A" * 29, "Z" * 28],
)
def test_names_above_u128_are_range_errors(name):
    with pytest.raises(RuneNameError, match="out of range"):
        rune_number(name)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("", "empty"),
        ("abc", "uppercase: did you mean 'ABC'"),
        ("A.B", "parse_spaced_rune"),
        ("A B", "invalid character ' '"),
        ("É", "invalid character"),
    ],
)
def test_bad_names(name, match):
    with pytest.raises(RuneNameError, match=match):
        rune_number(name)


@pytest.mark.parametrize("bad", [-1, 2**128, 1.0, "1", True])
def test_rune_name_rejects_non_u128(bad):
    with pytest.raises(RuneNameError):
        rune_name(bad)


def test_errors_are_runes_and_value_errors():
    with pytest.raises(RunesError):
        rune_number("?")
    with pytest.raises(ValueError):
        parse_rune_id("nope")


# -- spaced names --------------------------------------------------------------

SPACED_TABLE = [
    ("AB", 1, "A•B"),
    ("ABC", 3, "A•B•C"),
    ("ABC", 1, "A•BC"),
    ("AAAA", 0b10, "AA•AA"),
    ("AAAA", 0b111, "A•A•A•A"),
    ("UNCOMMONGOODS", 128, "UNCOMMON•GOODS"),
    ("DOGGOTOTHEMOON", 0b10_0101_0100, "DOG•GO•TO•THE•MOON"),
]


@pytest.mark.parametrize(("name", "spacers", "display"), SPACED_TABLE, ids=[t[2] for t in SPACED_TABLE])
def test_spaced_table(name, spacers, display):
    assert format_spaced_rune(name, spacers) == display
    assert format_spaced_rune(rune_number(name), spacers) == display
    assert parse_spaced_rune(display) == (rune_number(name), spacers)
    assert parse_spaced_rune(display.replace("•", ".")) == (rune_number(name), spacers)


@pytest.mark.parametrize("case", VECTORS["spaced_runes"], ids=lambda c: c["display"] + f"/{c['spacers']}")
def test_public_spaced_vectors(case):
    n = int(case["rune_n"])
    assert rune_number(case["rune"]) == n
    assert format_spaced_rune(n, case["spacers"]) == case["display"]
    # display drops spacer bits past the last letter, so parsing gives the visible ones
    assert parse_spaced_rune(case["display"])[0] == n


def test_spacer_bits_past_the_end_are_ignored_when_formatting():
    assert format_spaced_rune("A", 1) == "A"
    assert format_spaced_rune("AB", 0b111) == "A•B"


def test_mixed_spacers_parse():
    assert parse_spaced_rune("A.B•C") == (rune_number("ABC"), 3)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (".A", "leading spacer"),
        ("•AB", "leading spacer"),
        ("A..B", "double spacer"),
        ("A.•B", "double spacer"),
        ("A.", "trailing spacer"),
        ("AB•", "trailing spacer"),
        ("A-B", "invalid character '-'"),
        ("a.b", "uppercase"),
        ("", "empty"),
        ("A" * 29, "out of range"),
        ("A." * 28 + "A", "out of range"),
    ],
)
def test_spaced_parse_errors(text, match):
    with pytest.raises(RuneNameError, match=match):
        parse_spaced_rune(text)


@pytest.mark.parametrize("spacers", [-1, 2**32, "1"])
def test_format_spaced_rejects_bad_spacers(spacers):
    with pytest.raises(RuneNameError, match="spacers"):
        format_spaced_rune("AB", spacers)


def test_format_spaced_rejects_bad_name():
    with pytest.raises(RuneNameError):
        format_spaced_rune("A•B", 0)


# -- rune ids ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("840000:3", (840000, 3)),
        ("1:0", (1, 0)),
        ("0:0", (0, 0)),
        (f"{2**64 - 1}:{2**32 - 1}", (2**64 - 1, 2**32 - 1)),
        ("0840000:03", (840000, 3)),
    ],
)
def test_rune_id_round_trip(text, parsed):
    assert parse_rune_id(text) == parsed
    assert parse_rune_id(format_rune_id(*parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("840000", "missing ':'"),
        ("840000:", "decimal digits"),
        (":3", "decimal digits"),
        ("840000:3:1", "decimal digits"),
        ("-1:3", "decimal digits"),
        (" 1:3", "decimal digits"),
        ("1_000:3", "decimal digits"),
        ("1:3\n", "decimal digits"),
        ("١:٣", "decimal digits"),
        (f"{2**64}:0", "block .* out of range"),
        (f"1:{2**32}", "tx .* out of range"),
        ("0:1", "block 0 only allows tx 0"),
    ],
)
def test_rune_id_errors(text, match):
    with pytest.raises(RuneNameError, match=match):
        parse_rune_id(text)


@pytest.mark.parametrize(("block", "tx"), [(-1, 0), (0, 5), (2**64, 0), (1, 2**32), (1.5, 0), (1, "2")])
def test_format_rune_id_errors(block, tx):
    with pytest.raises(RuneNameError):
        format_rune_id(block, tx)


MINIMUM_TABLE = {
    839_999: "AAAAAAAAAAAAA", 840_000: "ZZYZXBRKWXVA", 857_500: "ZZYZXBRKWXV",
    875_000: "ZZYZXBRKWY", 892_500: "ZZYZXBRKX", 910_000: "ZZYZXBRL", 927_500: "ZZYZXBS",
    945_000: "ZZYZXC", 962_500: "ZZYZY", 980_000: "ZZZA", 997_500: "ZZZ", 1_015_000: "AAA",
    1_032_500: "AA", 1_049_999: "A", 2_000_000: "A",
}  # fmt: skip


@pytest.mark.parametrize(("height", "name"), MINIMUM_TABLE.items(), ids=str)
def test_minimum_name_schedule(height, name):
    assert rune_name(minimum_rune_at_height(height)) == name


@pytest.mark.parametrize(
    ("name", "height"),
    [("ZZZ", 997_500), ("AAA", 1_014_999), ("NNNN", 988_400), ("Z", 1_033_173),
     ("B", 1_049_326), ("A", 1_049_999)],
)  # fmt: skip
def test_unlock_heights(name, height):
    n = rune_number(name)
    assert minimum_rune_at_height(height) <= n < minimum_rune_at_height(height - 1)


def test_minimum_schedule_other_networks():
    assert minimum_rune_at_height(0, first_rune_height=0) == rune_number("ZZYZXBRKWXVA")
    assert minimum_rune_at_height(2_520_000 + 209_999, first_rune_height=2_520_000) == 0
