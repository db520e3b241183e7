"""decode_outputs against the shared public vectors, then ord's rules the vectors leave out."""

from __future__ import annotations

import pytest
from _shared import shared_json

from mesh_magics.errors import RunesError
from mesh_magics.runes import decode_outputs
from mesh_magics.runes.protocol import script as _script
from mesh_magics.runes.protocol import varint as _varint
from mesh_magics.runes.protocol.runestone import decode_many

VECTORS = shared_json("runestone_vectors_public.json")
U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
U128_MAX = 2**128 - 1
MAX_SPACERS = 0x07FF_FFFF
P2WPKH = "0014" + "00" * 20  # a dummy non-OP_RETURN output


@pytest.mark.parametrize("case", VECTORS["vectors"], ids=lambda c: c["name"])
def test_public_vector(case):
    assert decode_outputs(case["outputs"]) == case["expected"]
    # the same outputs as bytes decode the same way
    assert decode_outputs([bytes.fromhex(s) for s in case["outputs"]]) == case["expected"]
    if "integers" in case:  # our encoder writes the same script as ord's test helper
        assert script(*map(int, case["integers"])) == case["script_hex"]


@pytest.mark.parametrize("case", VECTORS["varints"], ids=lambda c: c["value"])
def test_public_varint(case):
    value = int(case["value"])
    assert _varint.encode(value).hex() == case["hex"]
    assert _varint.decode(bytes.fromhex(case["hex"])) == (value, len(case["hex"]) // 2)
    assert _varint.decode_all(bytes.fromhex(case["hex"])) == [value]


# -- helpers -------------------------------------------------------------------


def script(*ints: int) -> str:
    payload = b"".join(_varint.encode(i) for i in ints)
    return (b"\x6a\x5d" + _script.push_data(payload)).hex()


def decode_ints(*ints: int, outputs: int = 1) -> dict:
    return decode_outputs([script(*ints)] + [P2WPKH] * (outputs - 1))


def runestone(edicts=(), etching=None, mint=None, pointer=None) -> dict:
    return {
        "kind": "runestone",
        "edicts": [{"id": i, "amount": str(a), "output": o} for i, a, o in edicts],
        "etching": etching,
        "mint": mint,
        "pointer": pointer,
    }


def etching(terms=None, turbo=False, **fields) -> dict:
    e = dict.fromkeys(["divisibility", "premine", "rune", "rune_n", "spacers", "symbol"])
    e.update(fields)
    e["terms"] = terms
    e["turbo"] = turbo
    return e


def terms(amount=None, cap=None, height=(None, None), offset=(None, None)) -> dict:
    return {"amount": amount, "cap": cap, "height": list(height), "offset": list(offset)}


def cenotaph(flaw, etching=None, mint=None) -> dict:
    return {"kind": "cenotaph", "flaws": [flaw], "etching": etching, "mint": mint}


# -- finding the runestone -----------------------------------------------------

NONE = {"kind": "none"}


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        ([], NONE),
        ([""], NONE),
        ([None, P2WPKH], NONE),
        (["6a"], NONE),
        (["6a015d"], NONE),  # 0x5d pushed as data is not the magic
        (["6a6a5d"], NONE),
        (["5d6a"], NONE),
        (["6a5c"], NONE),  # OP_12
        (["6a5d"], runestone()),
        (["6A5D"], runestone()),
        ([P2WPKH, "6a5d"], runestone()),
        # the first candidate decides, even a cenotaph
        (["6a5d020800", "6a5d"], cenotaph("UnrecognizedEvenTag")),
        (["6a5d", "6a5dff"], runestone()),
    ],
    ids=lambda v: ("+".join(map(str, v)) or "no-outputs") if isinstance(v, list) else v["kind"],
)
def test_candidate_selection(outputs, expected):
    assert decode_outputs(outputs) == expected


@pytest.mark.parametrize(
    ("hex_script", "expected"),
    [
        ("6a5d4c", cenotaph("InvalidScript")),  # PUSHDATA1 without its length
        ("6a5d4d01", cenotaph("InvalidScript")),  # PUSHDATA2 with half a length
        ("6a5d4e010000", cenotaph("InvalidScript")),
        ("6a5d4e01000000", cenotaph("InvalidScript")),  # length 1, no data
        ("6a5d4e0100000014", cenotaph("TruncatedField")),  # length 1, data 0x14
        ("6a5d0214", cenotaph("InvalidScript")),
        ("6a5dff04", cenotaph("Opcode")),  # opcode first
        ("6a5d04ff", cenotaph("InvalidScript")),  # truncated push first
        ("6a5d0114ff", cenotaph("Opcode")),  # valid push, then an opcode
        ("6a5d4f", cenotaph("Opcode")),  # OP_1NEGATE
        ("6a5d51", cenotaph("Opcode")),  # OP_1
        ("6a5d5d", cenotaph("Opcode")),  # a second OP_13
        ("6a5d00", runestone()),  # OP_0 pushes nothing
        ("6a5d4c00", runestone()),
        # pushes concatenate, and a varint may span two pushes: [20, 1, 20, 300]
        ("6a5d021401" + "0214ac" + "0102", runestone(mint="1:300")),
        # non-minimal pushes are fine
        ("6a5d4c0414011401", runestone(mint="1:1")),
        ("6a5d4d040014011401", runestone(mint="1:1")),
        ("6a5d4e0400000014011401", runestone(mint="1:1")),
    ],
)
def test_script_rules(hex_script, expected):
    assert decode_outputs([hex_script]) == expected


def test_long_payload_uses_pushdata():
    ints = [0] + [1, 1, 7, 0] * 40  # 161 bytes of payload -> OP_PUSHDATA1
    assert script(*ints)[4:6] == "4c"
    # a non-zero block delta makes the tx absolute: 1:1, 2:1, ..., 40:1
    assert decode_ints(*ints) == runestone(edicts=[(f"{k}:1", 7, 0) for k in range(1, 41)])


# -- varints -------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "80",  # unterminated
        "0280",  # unterminated after a valid integer
        "ff" * 18 + "04",  # 19th byte with bit 2 set: overflow
        "ff" * 18 + "7f",
        "80" * 19 + "00",  # 20 bytes: overlong
        "ff" * 18 + "83",  # 19th byte continues
    ],
)
def test_varint_errors_are_cenotaphs(payload):
    assert decode_outputs([(b"\x6a\x5d" + _script.push_data(bytes.fromhex(payload))).hex()]) == (
        cenotaph("Varint")
    )


def test_varint_error_drops_fields_parsed_before_it():
    raw = bytes.fromhex("0201040414011401") + b"\x80"
    assert decode_outputs([b"\x6a\x5d" + _script.push_data(raw)]) == cenotaph("Varint")


def test_non_minimal_varints_are_accepted():
    raw = bytes.fromhex("94" + "80" * 17 + "00" + "8100")  # 20 and 1, padded
    assert decode_outputs([b"\x6a\x5d" + _script.push_data(raw + bytes.fromhex("1401"))]) == (
        runestone(mint="1:1")
    )


@pytest.mark.parametrize("kind,hex_", [("unterminated", "80"), ("overflow", "ff" * 18 + "04"),
                                       ("overlong", "80" * 19 + "00")])  # fmt: skip
def test_varint_error_kinds(kind, hex_):
    with pytest.raises(_varint.VarintError) as info:
        _varint.decode(bytes.fromhex(hex_))
    assert info.value.kind == kind


# -- message: tags, flags, edicts ----------------------------------------------

E = etching


@pytest.mark.parametrize(
    ("ints", "outputs", "expected"),
    [
        # edict delta decoding (spec example) and sorting
        ([0, 10, 5, 1, 0, 0, 0, 2, 0, 0, 2, 3, 0, 40, 1, 4, 0], 1,
         runestone(edicts=[("10:5", 1, 0), ("10:5", 2, 0), ("10:7", 3, 0), ("50:1", 4, 0)])),
        ([0, U64_MAX, U32_MAX, U128_MAX, 0], 1, runestone(edicts=[(f"{U64_MAX}:{U32_MAX}", U128_MAX, 0)])),
        ([0, 1, 0, 0, 2], 2, runestone(edicts=[("1:0", 0, 2)])),  # output == n_outputs
        # EdictRuneId
        ([0, 0, 1, 0, 0], 1, cenotaph("EdictRuneId")),  # 0:1
        ([0, 2**64, 0, 0, 0], 1, cenotaph("EdictRuneId")),
        ([0, U64_MAX, 0, 0, 0, 1, 0, 0, 0], 1, cenotaph("EdictRuneId")),  # block overflows u64
        ([0, 1, U32_MAX, 0, 0, 0, 1, 0, 0], 1, cenotaph("EdictRuneId")),  # tx overflows u32
        ([0, 1, 2**32, 0, 0], 1, cenotaph("EdictRuneId")),  # absolute tx must fit u32
        # EdictOutput
        ([0, 1, 1, 0, 2], 1, cenotaph("EdictOutput")),
        ([0, 1, 1, 0, 2**32], 1, cenotaph("EdictOutput")),
        ([0, 1, 1, 0, U128_MAX], 1, cenotaph("EdictOutput")),
        # TrailingIntegers, after the full edicts are checked
        ([0, 1, 1, 0, 0, 1, 1], 1, cenotaph("TrailingIntegers")),
        ([0, 1, 1, 0, 0, 1, 1, 1], 1, cenotaph("TrailingIntegers")),
        ([0, 0, 1, 0, 0, 1], 1, cenotaph("EdictRuneId")),
        ([0, 1, 1, 0, 9, 1], 1, cenotaph("EdictOutput")),
        ([0], 1, runestone()),
        # TruncatedField
        ([20], 1, cenotaph("TruncatedField")),
        ([127], 1, cenotaph("TruncatedField")),
        ([20, 1, 20, 1, 22], 1, cenotaph("TruncatedField", mint="1:1")),
        # odd tags: unknown, duplicated or rejected values are ignored
        ([127, 5], 1, runestone()),
        ([1, 5, 3, 1, 5, 97], 1, runestone()),  # etching fields without the Etching flag
        ([2, 1, 1, 5, 1, 6], 1, runestone(etching=E(divisibility=5))),
        ([2, 1, 1, 39], 1, runestone(etching=E())),
        ([2, 1, 1, 256], 1, runestone(etching=E())),
        ([2, 1, 3, MAX_SPACERS + 1], 1, runestone(etching=E())),
        ([2, 1, 5, 0xD800], 1, runestone(etching=E())),
        ([2, 1, 5, 0x110000], 1, runestone(etching=E())),
        ([2, 1, 5, 2**32 + 97], 1, runestone(etching=E())),
        ([2, 1, 5, 0x10FFFF], 1, runestone(etching=E(symbol=chr(0x10FFFF)))),
        ([2, 1, 5, 0x1F415], 1, runestone(etching=E(symbol="🐕"))),
        # flags
        ([2, 0], 1, runestone()),
        ([2, 1], 1, runestone(etching=E())),
        ([2, 3], 1, runestone(etching=E(terms=terms()))),
        ([2, 5], 1, runestone(etching=E(turbo=True))),
        ([2, 2], 1, cenotaph("UnrecognizedFlag")),  # Terms without Etching
        ([2, 4], 1, cenotaph("UnrecognizedFlag")),  # Turbo without Etching
        ([2, 2**127], 1, cenotaph("UnrecognizedFlag")),
        ([2, 1 | 2**127, 4, 0], 1, cenotaph("UnrecognizedFlag", etching="A")),
        # even tags: unknown, duplicated, rejected, or without their flag
        ([126, 0], 1, cenotaph("UnrecognizedEvenTag")),
        ([128, 0], 1, cenotaph("UnrecognizedEvenTag")),
        ([2, 0, 2, 0], 1, cenotaph("UnrecognizedEvenTag")),
        ([22, 0, 22, 0], 1, cenotaph("UnrecognizedEvenTag")),
        ([22, 1], 1, cenotaph("UnrecognizedEvenTag")),  # pointer == n_outputs
        ([22, 1], 2, runestone(pointer=1)),
        ([22, 2**32], 1, cenotaph("UnrecognizedEvenTag")),
        ([20, 0, 20, 1], 1, cenotaph("UnrecognizedEvenTag")),  # mint 0:1
        ([20, 0, 20, 0], 1, runestone(mint="0:0")),
        ([20, 2**64, 20, 0], 1, cenotaph("UnrecognizedEvenTag")),
        ([20, 1, 20, 2**32], 1, cenotaph("UnrecognizedEvenTag")),
        ([20, 1, 20, 1, 20, 2], 1, cenotaph("UnrecognizedEvenTag", mint="1:1")),
        ([4, 1], 1, cenotaph("UnrecognizedEvenTag")),  # Rune without Etching
        ([6, 1], 1, cenotaph("UnrecognizedEvenTag")),  # Premine without Etching
        ([2, 1, 4, 1, 4, 2], 1, cenotaph("UnrecognizedEvenTag", etching="B")),
        ([2, 3, 12, 2**64], 1, cenotaph("UnrecognizedEvenTag")),
        ([2, 3, 18, 2**64, 4, 0], 1, cenotaph("UnrecognizedEvenTag", etching="A")),
        ([2, 1, 14, 5], 1, cenotaph("UnrecognizedEvenTag")),
        # names: A, reserved and u128::MAX are not cenotaphs
        ([2, 1, 4, 0], 1, runestone(etching=E(rune="A", rune_n="0"))),
        ([2, 1, 4, 6402364363415443603228541259936211926], 1, runestone(etching=E(
            rune="AAAAAAAAAAAAAAAAAAAAAAAAAAA", rune_n="6402364363415443603228541259936211926"))),
        # terms: every field, heights and offsets up to u64::MAX
        ([2, 3, 8, 5, 10, 7, 12, 1, 14, U64_MAX, 16, 0, 18, 9], 1, runestone(etching=E(
            terms=terms("7", "5", (1, U64_MAX), (0, 9))))),
        # supply = premine + cap * amount
        ([2, 1, 6, U128_MAX], 1, runestone(etching=E(premine=str(U128_MAX)))),
        ([2, 3, 6, 1, 8, 1, 10, U128_MAX - 1], 1, runestone(etching=E(
            premine="1", terms=terms(str(U128_MAX - 1), "1")))),
        ([2, 3, 6, 1, 8, 1, 10, U128_MAX], 1, cenotaph("SupplyOverflow")),
        ([2, 3, 8, 2, 10, 2**127], 1, cenotaph("SupplyOverflow")),
        ([2, 3, 4, 5, 6, U128_MAX, 8, 1, 10, 1], 1, cenotaph("SupplyOverflow", etching="F")),
        ([2, 1, 6, U128_MAX, 8, 1, 10, 1], 1, cenotaph("UnrecognizedEvenTag")),  # no Terms flag
        # precedence: message flaws, then SupplyOverflow, UnrecognizedFlag, UnrecognizedEvenTag
        ([2, 8, 126, 0, 3], 1, cenotaph("TruncatedField")),
        ([126, 0, 0, 1], 1, cenotaph("TrailingIntegers")),
        ([2, 11, 8, 2, 10, U128_MAX, 0, 1, 1, 0, 5], 1, cenotaph("EdictOutput")),
        ([2, 9, 126, 0, 4, 2], 1, cenotaph("UnrecognizedFlag", etching="C")),
        ([2, 8, 126, 0], 1, cenotaph("UnrecognizedFlag")),
        # what a cenotaph carries: the name and the mint, nothing else
        ([2, 1, 126, 0], 1, cenotaph("UnrecognizedEvenTag")),
        ([2, 7, 4, 4, 6, 8, 8, 1, 20, 1, 20, 5, 22, 0, 126, 0, 0, 1, 1, 2, 0], 1,
         cenotaph("UnrecognizedEvenTag", etching="E", mint="1:5")),
    ],
)  # fmt: skip
def test_message_rules(ints, outputs, expected):
    assert decode_ints(*ints, outputs=outputs) == expected


def test_ord_encoder_example_round_trips():
    # everything an etching can say, in the order ord's encoder writes it
    ints = [2, 7, 4, 11382812169668186247, 1, 5, 3, 596, 5, 0x1F415, 6, 10**16, 10, 1000,
            8, 21, 12, 840000, 14, 850000, 16, 1, 18, 100, 20, 840000, 20, 3, 22, 1,
            0, 840000, 3, 5, 0, 0, 1, 0, 2]  # fmt: skip
    assert decode_ints(*ints, outputs=2) == runestone(
        edicts=[("840000:3", 5, 0), ("840000:4", 0, 2)],
        etching=E(divisibility=5, premine=str(10**16), rune="DOGGOTOTHEMOON",
                  rune_n="11382812169668186247", spacers=596, symbol="🐕",
                  terms=terms("1000", "21", (840000, 850000), (1, 100)), turbo=True),
        mint="840000:3", pointer=1,
    )  # fmt: skip


def test_output_count_matters():
    assert decode_ints(0, 1, 1, 0, 3, outputs=3)["kind"] == "runestone"
    assert decode_ints(0, 1, 1, 0, 3, outputs=2) == cenotaph("EdictOutput")


def test_inputs_accepted():
    s = script(20, 1, 20, 1)
    expected = runestone(mint="1:1")
    assert decode_outputs((P2WPKH, s)) == expected
    assert decode_outputs(iter([P2WPKH, s])) == expected
    assert decode_outputs([bytearray.fromhex(s)]) == expected
    assert decode_many([[s], [P2WPKH], []]) == [expected, NONE, NONE]


def test_bad_hex_in_the_deciding_output_raises():
    with pytest.raises(RunesError, match="not valid hex"):
        decode_outputs(["6a5dzz"])
    # hex of outputs that do not decide is not looked at
    assert decode_outputs(["zz", "6a5d"]) == runestone()


def test_flaw_names_and_serde_spelling():
    from mesh_magics.runes.protocol.runestone import FLAW_SERDE, FLAWS

    assert len(FLAWS) == 10
    for flaw, serde in FLAW_SERDE.items():
        assert f"{flaw}={serde}" in VECTORS["notes"]["flaw_names"]


def test_instruction_iterator():
    script = bytes.fromhex("6a5d" + "00" + "0201ff" + "4c0161" + "4d010000" + "62" + "4e02000000abcd")
    assert list(_script.instructions(script)) == [
        (0x6A, None), (0x5D, None), (0x00, b""), (0x02, b"\x01\xff"), (0x4C, b"a"),
        (0x4D, b"\x00"), (0x62, None), (0x4E, b"\xab\xcd"),
    ]  # fmt: skip
    with pytest.raises(_script.ScriptError):
        list(_script.instructions(bytes.fromhex("6a04aa")))
    assert [op for op, _ in _script.instructions(bytes.fromhex("6a"))] == [0x6A]
