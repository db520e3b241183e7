"""Property tests: the decoder never fails on any input, and encode -> decode round-trips."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mesh_magics.runes import (
    decode_outputs,
    format_spaced_rune,
    parse_spaced_rune,
    rune_name,
    rune_number,
)
from mesh_magics.runes.protocol import script as _script
from mesh_magics.runes.protocol import varint as _varint
from mesh_magics.runes.protocol.runestone import FLAWS

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
U128_MAX = 2**128 - 1
P2WPKH = bytes.fromhex("0014" + "00" * 20)

fast = settings(deadline=None, max_examples=150)


def _is_id(v) -> bool:
    if not isinstance(v, str) or v.count(":") != 1:
        return False
    block, tx = (int(x) for x in v.split(":"))
    return 0 <= block <= U64_MAX and 0 <= tx <= U32_MAX and not (block == 0 and tx > 0)


def _is_u128_str(v) -> bool:
    return isinstance(v, str) and v.isdigit() and int(v) <= U128_MAX


def assert_shape(result: dict, n_outputs: int) -> None:
    """``result`` is one of the three documented shapes, with well-typed fields."""
    kind = result["kind"]
    if kind == "none":
        assert result == {"kind": "none"}
    elif kind == "cenotaph":
        assert set(result) == {"kind", "flaws", "etching", "mint"}
        assert len(result["flaws"]) == 1 and result["flaws"][0] in FLAWS
        assert result["etching"] is None or rune_name(rune_number(result["etching"])) == result["etching"]
        assert result["mint"] is None or _is_id(result["mint"])
    else:
        assert kind == "runestone"
        assert set(result) == {"kind", "edicts", "etching", "mint", "pointer"}
        for edict in result["edicts"]:
            assert _is_id(edict["id"]) and _is_u128_str(edict["amount"])
            assert 0 <= edict["output"] <= n_outputs
        assert result["mint"] is None or _is_id(result["mint"])
        assert result["pointer"] is None or 0 <= result["pointer"] < n_outputs
        e = result["etching"]
        if e is not None:
            assert e["divisibility"] is None or 0 <= e["divisibility"] <= 38
            assert e["spacers"] is None or 0 <= e["spacers"] <= 0x07FF_FFFF
            assert e["symbol"] is None or len(e["symbol"]) == 1
            assert isinstance(e["turbo"], bool)
            assert (e["rune"] is None) == (e["rune_n"] is None)
            if e["rune"] is not None:
                assert rune_number(e["rune"]) == int(e["rune_n"])
            terms = e["terms"]
            cap = amount = 0
            if terms is not None:
                cap, amount = int(terms["cap"] or 0), int(terms["amount"] or 0)
                for v in (*terms["height"], *terms["offset"]):
                    assert v is None or 0 <= v <= U64_MAX
            assert int(e["premine"] or 0) + cap * amount <= U128_MAX


def magic(payload: bytes) -> bytes:
    return b"\x6a\x5d" + _script.push_data(payload)


def encode_ints(ints) -> bytes:
    return b"".join(_varint.encode(i) for i in ints)


# -- anything in, a documented shape out ----------------------------------------

scripts = st.one_of(
    st.binary(max_size=40),
    st.binary(max_size=40).map(lambda b: b"\x6a\x5d" + b),
    st.binary(max_size=40).map(lambda b: b"\x6a" + b),
)
u128s = st.one_of(
    st.integers(0, 30), st.sampled_from([126, 127, 128, U32_MAX, 2**32, U64_MAX, 2**64]),
    st.integers(0, U128_MAX),
)  # fmt: skip


@fast
@given(scripts)
def test_any_script_decodes(script):
    result = decode_outputs([script])
    assert_shape(result, 1)
    assert decode_outputs([script.hex()]) == result
    assert decode_outputs([script.hex().upper()]) == result


@fast
@given(st.lists(st.one_of(scripts, st.just(P2WPKH), st.just(b"")), max_size=6))
def test_any_output_list_decodes(outputs):
    result = decode_outputs(outputs)
    assert_shape(result, len(outputs))
    # only the first OP_RETURN OP_13 output counts: later outputs can be anything
    first = next((i for i, s in enumerate(outputs) if s[:2] == b"\x6a\x5d"), None)
    if first is None:
        assert result == {"kind": "none"}
    else:
        tail = [P2WPKH] * (len(outputs) - first - 1)
        assert decode_outputs(outputs[: first + 1] + tail) == result


@fast
@given(st.lists(u128s, max_size=24), st.integers(1, 4))
def test_any_integer_payload_decodes(ints, n_outputs):
    result = decode_outputs([magic(encode_ints(ints))] + [P2WPKH] * (n_outputs - 1))
    assert result["kind"] in ("runestone", "cenotaph")
    assert_shape(result, n_outputs)


@fast
@given(st.lists(u128s, max_size=24), st.integers(1, 10))
def test_push_boundaries_do_not_matter(ints, cut):
    payload = encode_ints(ints)
    split = b"\x6a\x5d" + _script.push_data(payload[:cut]) + _script.push_data(payload[cut:])
    assert decode_outputs([split]) == decode_outputs([magic(payload)])


@fast
@given(st.lists(st.integers(0, U128_MAX), max_size=20))
def test_varints_round_trip(ints):
    assert _varint.decode_all(encode_ints(ints)) == ints


# -- encode -> decode round trip ---------------------------------------------------


@st.composite
def rune_ids(draw):
    block = draw(st.one_of(st.integers(0, 10), st.integers(840_000, 900_000), st.integers(0, U64_MAX)))
    tx = draw(st.integers(0, 0 if block == 0 else U32_MAX))
    return block, tx


@st.composite
def messages(draw):
    """A valid runestone (as the expected JSON) and its ord-encoder integers."""
    n_outputs = draw(st.integers(1, 5))
    ints: list[int] = []
    etching = None
    if draw(st.booleans()):
        fields = draw(st.fixed_dictionaries({}, optional={
            "rune": st.integers(0, U128_MAX),
            "divisibility": st.integers(0, 38),
            "spacers": st.integers(0, 0x07FF_FFFF),
            "symbol": st.characters(exclude_categories=["Cs"]),
            "premine": st.integers(0, U128_MAX),
        }))  # fmt: skip
        terms = None
        if draw(st.booleans()):
            terms = draw(st.fixed_dictionaries({}, optional={
                "amount": st.integers(0, 2**64), "cap": st.integers(0, 2**64),
                "height_start": st.integers(0, U64_MAX), "height_end": st.integers(0, U64_MAX),
                "offset_start": st.integers(0, U64_MAX), "offset_end": st.integers(0, U64_MAX),
            }))  # fmt: skip
            supply = terms.get("amount", 0) * terms.get("cap", 0)
            if "premine" in fields and fields["premine"] + supply > U128_MAX:
                fields["premine"] = U128_MAX - supply
        turbo = draw(st.booleans())
        ints += [2, 1 | (2 if terms is not None else 0) | (4 if turbo else 0)]
        for tag, key in ((4, "rune"), (1, "divisibility"), (3, "spacers"), (5, "symbol"), (6, "premine")):
            if key in fields:
                ints += [tag, ord(fields[key]) if key == "symbol" else fields[key]]
        t = terms or {}
        for tag, key in ((10, "amount"), (8, "cap"), (12, "height_start"), (14, "height_end"),
                         (16, "offset_start"), (18, "offset_end")):  # fmt: skip
            if key in t:
                ints += [tag, t[key]]
        etching = {
            "divisibility": fields.get("divisibility"),
            "premine": str(fields["premine"]) if "premine" in fields else None,
            "rune": rune_name(fields["rune"]) if "rune" in fields else None,
            "rune_n": str(fields["rune"]) if "rune" in fields else None,
            "spacers": fields.get("spacers"),
            "symbol": fields.get("symbol"),
            "terms": None if terms is None else {
                "amount": str(t["amount"]) if "amount" in t else None,
                "cap": str(t["cap"]) if "cap" in t else None,
                "height": [t.get("height_start"), t.get("height_end")],
                "offset": [t.get("offset_start"), t.get("offset_end")],
            },
            "turbo": turbo,
        }  # fmt: skip
    mint = draw(st.none() | rune_ids())
    if mint is not None:
        ints += [20, mint[0], 20, mint[1]]
    pointer = draw(st.none() | st.integers(0, n_outputs - 1))
    if pointer is not None:
        ints += [22, pointer]
    edicts = sorted(draw(st.lists(
        st.tuples(rune_ids(), st.integers(0, U128_MAX), st.integers(0, n_outputs)), max_size=5,
    )))  # fmt: skip
    if edicts:
        ints.append(0)
        prev = (0, 0)
        for (block, tx), amount, output in edicts:
            block_delta = block - prev[0]
            ints += [block_delta, tx - prev[1] if block_delta == 0 else tx, amount, output]
            prev = (block, tx)
    expected = {
        "kind": "runestone",
        "edicts": [{"id": f"{b}:{t}", "amount": str(a), "output": o} for (b, t), a, o in edicts],
        "etching": etching,
        "mint": None if mint is None else f"{mint[0]}:{mint[1]}",
        "pointer": pointer,
    }
    return ints, n_outputs, expected


@fast
@given(messages())
def test_encoded_runestones_round_trip(message):
    ints, n_outputs, expected = message
    assert decode_outputs([magic(encode_ints(ints))] + [P2WPKH] * (n_outputs - 1)) == expected


@fast
@given(messages(), st.integers(3, 2**70).map(lambda t: 2 * t + 1), u128s)
def test_unknown_odd_tags_are_ignored(message, tag, value):
    ints, n_outputs, expected = message
    ints = [tag, value] + ints
    assert decode_outputs([magic(encode_ints(ints))] + [P2WPKH] * (n_outputs - 1)) == expected


@fast
@given(messages(), st.integers(12, 2**70).map(lambda t: 2 * t))
def test_unknown_even_tags_make_cenotaphs(message, tag):
    ints, n_outputs, expected = message
    result = decode_outputs([magic(encode_ints([tag, 0] + ints))] + [P2WPKH] * (n_outputs - 1))
    etching = expected["etching"]
    assert result == {
        "kind": "cenotaph",
        "flaws": ["UnrecognizedEvenTag"],
        "etching": etching["rune"] if etching else None,
        "mint": expected["mint"],
    }


# -- names -------------------------------------------------------------------------


@fast
@given(st.integers(0, U128_MAX))
def test_names_round_trip(n):
    name = rune_name(n)
    assert rune_number(name) == n
    assert 1 <= len(name) <= 28


@fast
@given(st.integers(0, U128_MAX).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(0, 2 ** (len(rune_name(n)) - 1) - 1))
))  # fmt: skip
def test_spaced_names_round_trip(case):
    n, spacers = case
    text = format_spaced_rune(n, spacers)
    assert parse_spaced_rune(text) == (n, spacers)
    assert parse_spaced_rune(text.replace("•", ".")) == (n, spacers)
    assert text.replace("•", "") == rune_name(n)
