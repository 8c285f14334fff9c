"""NOWPayments IPN signatures (tools/providers/ipn_signature.py).

The first group checks our verifier against a signer that is not ours:
tests/data/nowpayments_sign.js runs NOWPayments' documented JavaScript
(`JSON.stringify(sortObject(JSON.parse(body)))`, HMAC-SHA512) in Node.js. Those tests are skipped
when `node` is not installed; everything else runs without it.
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.providers.ipn_signature import MAX_DEPTH, canonical_json, sign, verify

NODE = shutil.which("node")
SIGNER = Path(__file__).resolve().parent / "data" / "nowpayments_sign.js"
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")

SECRET = "ipn-Sécret-🔑-1234567890"  # non-ASCII on purpose: Node encodes a string key as UTF-8
ADDRESS = "TNDzfERDpxLDS2w1q6yaFC7pzqaSQ3Bg3r"
TAMPERED_ADDRESS = "TNDzfERDpxLDS2w1q6yaFC7pzqaSQ3Bg3s"  # one byte changed
# Every body below carries these three, and the LAST occurrence of each is the value JSON.parse
# keeps, so the mutation tests can edit the last occurrence and expect the signature to break.
STATUS = '"payment_status": "finished"'
AMOUNT = "0.00000012"
BASE = f'{STATUS}, "pay_address": "{ADDRESS}", "actually_paid": {AMOUNT}'


def _random_doubles_body() -> bytes:
    rng = random.Random(20261121)
    tokens = []
    for _ in range(400):
        bits = rng.getrandbits(64)
        value = struct.unpack("<d", struct.pack("<Q", bits))[0]
        if value != value or value in (float("inf"), float("-inf")):
            continue
        tokens.append(repr(value))
    for _ in range(100):  # "human" amounts with up to 18 decimals, some beyond double precision
        tokens.append(f"{rng.randrange(10**12)}.{rng.randrange(10**18):018d}")
    for _ in range(100):  # integers around and beyond 2**53 and 10**21
        tokens.append(str(rng.randrange(-(10**23), 10**23)))
    for exponent in range(-330, 330, 7):
        tokens.append(f"{rng.randrange(1, 10**6)}e{exponent}")
    return ("{" + BASE + ', "values": [' + ", ".join(tokens) + "]}").encode()


def _deep_body(levels: int) -> bytes:
    """A body whose nesting is `levels` deep, counting the top-level object."""
    assert levels >= 3
    nested = '{"leaf": [1, "x"]}'  # two levels
    for _ in range(levels - 3):
        nested = '{"a": ' + nested + "}"
    return ("{" + BASE + ', "deep": ' + nested + "}").encode()


BODIES: dict[str, bytes] = {
    # Shaped like a real NOWPayments IPN (their key order, compact), with non-ASCII text.
    "realistic_ipn": (
        '{"payment_id":5077125051,"parent_payment_id":null,"invoice_id":null,'
        '"payment_status":"finished","pay_address":"' + ADDRESS + '","payin_extra_id":null,'
        '"price_amount":15,"price_currency":"eur","pay_amount":0.00000013,'
        '"actually_paid":0.00000012,"actually_paid_at_fiat":0,"pay_currency":"btc",'
        '"order_id":"ord-42","order_description":"Zahlung für Ümlaut – 日本語 😀",'
        '"purchase_id":"5837122679","outcome_amount":14.0715,"outcome_currency":"usdttrc20",'
        '"payment_extra_ids":null,"fee":{"currency":"btc","depositFee":0.0000012,'
        '"withdrawalFee":0,"serviceFee":15.0}}'
    ).encode(),
    # Pretty-printed with CRLF, tabs and spaces, keys in no particular order.
    "pretty_printed": "\r\n".join(
        [
            "{",
            '\t"order_description" : "Zahlung für Ümlaut – 日本語 😀" ,',
            '\t"fee" : {',
            '\t\t"withdrawalFee" : 0,',
            '\t\t"serviceFee" : 0.5,',
            '\t\t"depositFee" : 1.2e-7 ,',
            '\t\t"currency" : "usdttrc20"',
            "\t},",
            '  "payment_id"  :  5077125051 ,',
            '  "payment_status": "finished",',
            '  "parent_payment_id": null,',
            f'  "pay_address": "{ADDRESS}",',
            f'  "actually_paid": {AMOUNT},',
            '  "price_amount": 15.0',
            "}",
            "",
        ]
    ).encode(),
    "number_forms": (
        "{" + BASE + ', "int": 15, "float": 15.0, "exp": 1.2e-7, "exp_upper": 1.2E-7,'
        ' "e21": 1e21, "e20": 1e20, "e_minus7": 1e-7, "e_minus7_long": 1.5e-7,'
        ' "micro": 0.000001, "plus_exp": 1E+2, "negative": -12.5, "negative_int": -7,'
        ' "negative_tiny": -0.00000012, "neg_zero": -0, "neg_zero_float": -0.0,'
        ' "zero_float": 0.0, "huge_id": 123456789012345678901, "beyond_2_53": 9007199254740993,'
        ' "last_integer_form": 999999999999999999999, "smallest": 5e-324,'
        ' "subnormal": 2.5e-323, "largest": 1.7976931348623157e308, "tenth": 0.1,'
        ' "third": 0.3333333333333333333333, "long_fraction": 14.071500000000000001,'
        ' "big": 1.5e300, "trailing_zeros": 1.2300e+2, "scaled": 0.1e1, "hundred": 100}'
    ).encode(),
    # 1e400 overflows to Infinity in JSON.parse, and JSON.stringify writes Infinity as null.
    "overflowing_numbers": ("{" + BASE + ', "inf": 1e400, "ninf": -1e400}').encode(),
    "escapes": (
        "{" + BASE + r', "note": "a\"b\\c\n\u0001", "controls": "\b\f\n\r\t\u0000\u001F\u007f",'
        r' "line_sep": "\u2028 escaped, raw: '
        + "\u2028\u2029"
        + r'", "slash": "\/path/", "escaped_non_ascii": "\u00e9\u65E5",'
        r' "pair": "\ud83d\ude00", "lone_high": "\ud800", "lone_low": "\udfff",'
        r' "reversed_pair": "\udc00\ud800", "key_\u00e9": 1, "\ud800key": 2, "tab\tkey": 3}'
    ).encode(),
    "nested_arrays": (
        "{" + BASE + ', "payment_extra_ids": [{"b": 1, "a": []}, [2, [3, null]], [], null, "x",'
        ' true, false, 0, ""], "twelve": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], "empty": {}}'
    ).encode(),
    # The last duplicate wins (the first "payment_status" and "pay_address" are shadowed).
    "duplicate_keys": (
        '{"payment_status": "waiting", "pay_address": "shadowed", "actually_paid": 1,'
        ' "fee": {"currency": "eth", "depositFee": 1, "currency": "btc"}, ' + BASE + "}"
    ).encode(),
    "integer_like_keys": (
        '{"10": "ten", "2": "two", "b": "bee", "a": "ay", "01": "zero-one", "-1": "minus",'
        ' "1.5": "x", "4294967294": "largest index", "4294967295": "not an index", "": "empty",'
        ' "0": "zero", "9007199254740993": "big", ' + BASE + "}"
    ).encode(),
    # UTF-16 order: "😀" (U+D83D U+DE00) and "𝒜" sort before "ｚ" (U+FF5A) and "\uffff".
    "utf16_key_order": (
        '{"ｚ": 1, "😀": 2, "é": 3, "Z": 4, "a": 5, "_": 6, "𝒜": 7, "\\uffff": 8, "\\ud7ff": 9,'
        " " + BASE + "}"
    ).encode(),
    # JSON.parse makes "__proto__" an own key, but sortObject's assignment hits the prototype
    # setter, so the key is not in the signed text.
    "proto_key": (
        '{"__proto__": {"payment_status": "refunded"}, "nested": {"__proto__": 7, "x": 1},'
        ' "list": [{"__proto__": null}], ' + BASE + "}"
    ).encode(),
    "falsy_values": (
        "{" + BASE + ', "t": true, "f": false, "zero": 0, "empty": "", "none": null,'
        ' "obj": {}, "arr": []}'
    ).encode(),
    "deepest_allowed": _deep_body(MAX_DEPTH),
    "random_doubles": _random_doubles_body(),
}


def _replace_last(body: bytes, old: bytes, new: bytes) -> bytes:
    head, found, tail = body.rpartition(old)
    assert found, f"{old!r} not in body"
    return head + new + tail


MUTATIONS = {
    "string_byte": lambda body: _replace_last(body, ADDRESS.encode(), TAMPERED_ADDRESS.encode()),
    "amount": lambda body: _replace_last(body, AMOUNT.encode(), b"0.00000013"),
    "status": lambda body: _replace_last(body, b'"finished"', b'"partially_paid"'),
}


def _run_node(args: list[str], stdin: bytes) -> str:
    assert NODE is not None
    result = subprocess.run(
        [NODE, str(SIGNER), *args], input=stdin, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


@pytest.fixture(scope="module")
def node_signatures() -> dict[str, str]:
    """Node's signature of every body, from one node process (a JSON string per stdin line)."""
    lines = "".join(json.dumps(body.decode("utf-8")) + "\n" for body in BODIES.values())
    signatures = _run_node(["--lines", SECRET], lines.encode("ascii")).split()
    assert len(signatures) == len(BODIES)
    return dict(zip(BODIES, signatures, strict=True))


# --- against the JavaScript reference signer -------------------------------------------------


@needs_node
@pytest.mark.parametrize("name", BODIES)
def test_matches_node_signer(name: str, node_signatures: dict[str, str]) -> None:
    body, node_sig = BODIES[name], node_signatures[name]
    assert sign(body, SECRET) == node_sig, canonical_json(body).decode()
    assert verify(body, node_sig, SECRET) is True
    assert verify(body, node_sig.upper(), SECRET) is True
    assert verify(body, node_sig, SECRET + "x") is False


@needs_node
@pytest.mark.parametrize("mutation", MUTATIONS)
@pytest.mark.parametrize("name", BODIES)
def test_tampered_body_fails(name: str, mutation: str, node_signatures: dict[str, str]) -> None:
    tampered = MUTATIONS[mutation](BODIES[name])
    assert tampered != BODIES[name]
    assert verify(tampered, node_signatures[name], SECRET) is False


@needs_node
def test_node_single_body_mode_agrees(node_signatures: dict[str, str]) -> None:
    body = BODIES["realistic_ipn"]
    assert _run_node([SECRET], body).strip() == node_signatures["realistic_ipn"]


@needs_node
def test_shadowed_duplicate_is_not_signed(node_signatures: dict[str, str]) -> None:
    # Editing the value JSON.parse discards does not change what was signed.
    body = BODIES["duplicate_keys"].replace(b'"waiting"', b'"failed"', 1)
    assert body != BODIES["duplicate_keys"]
    assert verify(body, node_signatures["duplicate_keys"], SECRET) is True


# --- canonical form, no node needed ----------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("15", "15"),
        ("15.0", "15"),
        ("1e21", "1e+21"),
        ("1e20", "100000000000000000000"),
        ("0.00000012", "1.2e-7"),
        ("1.2e-7", "1.2e-7"),
        ("0.000001", "0.000001"),
        ("1e-7", "1e-7"),
        ("1.5e-7", "1.5e-7"),
        ("-0", "0"),
        ("-0.0", "0"),
        ("123456789012345678901", "123456789012345680000"),
        ("999999999999999999999", "1e+21"),
        ("-12.50", "-12.5"),
        ("1E+2", "100"),
        ("0.1", "0.1"),
        ("5e-324", "5e-324"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("1e400", "null"),
        ("-1e400", "null"),
        ("123.456e5", "12345600"),
        ("1.25e-5", "0.0000125"),
    ],
)
def test_numbers_written_like_javascript(token: str, expected: str) -> None:
    assert canonical_json(b'{"n": ' + token.encode() + b"}") == b'{"n":' + expected.encode() + b"}"


def test_key_order_index_keys_first_then_utf16() -> None:
    body = (
        '{"b": 1, "10": 1, "2": 1, "01": 1, "-1": 1, "1.5": 1, "4294967294": 1,'
        ' "4294967295": 1, "": 1, "a": 1, "ｚ": 1, "😀": 1}'
    ).encode()
    expected = (
        '{"2":1,"10":1,"4294967294":1,"":1,"-1":1,"01":1,"1.5":1,"4294967295":1,"a":1,"b":1,'
        '"😀":1,"ｚ":1}'
    )
    assert canonical_json(body) == expected.encode()


def test_arrays_become_objects_and_proto_disappears() -> None:
    body = b'{"a": [3, [], {"y": 1, "x": null}], "__proto__": {"p": 1}, "n": {"__proto__": 1}}'
    assert canonical_json(body) == b'{"a":{"0":3,"1":{},"2":{"x":null,"y":1}},"n":{}}'


def test_strings_written_like_json_stringify() -> None:
    body = rb'{"s": "a\"b\\c\n\u0001\u001F\/\u00e9\ud83d\ude00\ud800\u2028\u007f x\b\f\r\t"}'
    expected = '{"s":"a\\"b\\\\c\\n\\u0001\\u001f/é😀\\ud800\u2028\x7f x\\b\\f\\r\\t"}'
    assert canonical_json(body) == expected.encode("utf-8")


def test_last_duplicate_wins() -> None:
    assert canonical_json(b'{"b": 1, "a": 1, "b": 2}') == b'{"a":1,"b":2}'


def test_empty_object() -> None:
    assert canonical_json(b" {} ") == b"{}"


def test_sign_is_lower_case_hex() -> None:
    signature = sign(BODIES["realistic_ipn"], SECRET)
    assert len(signature) == 128 and signature == signature.lower()
    assert int(signature, 16) >= 0
    assert verify(BODIES["realistic_ipn"], signature, SECRET) is True


# --- header and body checks ------------------------------------------------------------------

GOOD_BODY = BODIES["realistic_ipn"]
GOOD_SIG = sign(GOOD_BODY, SECRET)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        GOOD_SIG[:127],
        GOOD_SIG + "0",
        GOOD_SIG + "\n",
        " " + GOOD_SIG[1:],
        "g" * 128,
        "é" * 128,
        "١" * 128,  # Arabic-Indic digit one: a digit to str.isdigit, not to us
        "0x" + GOOD_SIG[2:],
        GOOD_SIG[:-1] + ("0" if GOOD_SIG[-1] != "0" else "1"),
        GOOD_SIG.encode(),
        128,
        ["a" * 128],
    ],
)
def test_bad_headers_are_false_and_never_raise(header: object) -> None:
    assert verify(GOOD_BODY, header, SECRET) is False  # type: ignore[arg-type]


def test_upper_and_mixed_case_headers_accepted() -> None:
    assert verify(GOOD_BODY, GOOD_SIG.upper(), SECRET) is True
    mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(GOOD_SIG))
    assert verify(GOOD_BODY, mixed, SECRET) is True


def test_empty_secret_never_verifies() -> None:
    assert verify(GOOD_BODY, sign(GOOD_BODY, ""), "") is False


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "\xff"}',  # invalid UTF-8
        b'{"a": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate is not UTF-8
        '{"a": 1}'.encode("utf-16"),
        b"\xef\xbb\xbf{}",  # BOM: JSON.parse refuses it too
        b"",
        b"{",
        b'{"a": }',
        b'{"a": 1,}',
        b'{"a": 1} x',
        b"{'a': 1}",
        b'{"a": "raw\ncontrol"}',
        b'{"a": 01}',
        b"[1, 2]",
        b'"text"',
        b"1",
        b"null",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b"{" + b'"a":[' * 999 + b"]" * 999 + b"}",
        b'{"a":' * 1000 + b"1" + b"}" * 1000,
        b'{"a":' * 1000,  # deep and unterminated
        b'{"a":"' + b'\\"' * 1000 + b"[" * 1000,  # unterminated string, then brackets
    ],
)
def test_invalid_bodies_raise_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        canonical_json(body)
    with pytest.raises(ValueError):
        verify(body, GOOD_SIG, SECRET)
    with pytest.raises(ValueError):
        verify(body, None, SECRET)


def test_depth_limit_is_exact_and_ignores_brackets_in_strings() -> None:
    assert canonical_json(_deep_body(MAX_DEPTH))
    with pytest.raises(ValueError, match="deeper"):
        canonical_json(_deep_body(MAX_DEPTH + 1))
    assert canonical_json(b'{"s": "' + b"[{" * 5000 + b'\\"}"}') == (
        b'{"s":"' + b"[{" * 5000 + b'\\"}"}'
    )


def test_item_limit_is_exact_and_ignores_commas_in_strings() -> None:
    from tools.providers.ipn_signature import MAX_ITEMS

    def body(elements: int) -> bytes:  # one key holding an array: elements + 1 entries
        return b'{"a": [' + b", ".join([b"0"] * elements) + b"]}"

    assert canonical_json(body(MAX_ITEMS - 1))
    with pytest.raises(ValueError, match="more than"):
        canonical_json(body(MAX_ITEMS))
    with pytest.raises(ValueError, match="more than"):  # keys count, at any depth
        canonical_json(b'{"o": {' + b",".join(b'"k%d": 1' % n for n in range(MAX_ITEMS)) + b"}}")
    commas = b'{"s": "' + b"," * 50_000 + b'"}'
    assert canonical_json(commas) == commas.replace(b" ", b"")


# --- properties ------------------------------------------------------------------------------

_text = st.text(st.characters(exclude_categories=()), max_size=8)  # surrogates and controls too
_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
_values = st.recursive(
    _leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=25,
)
_objects = st.dictionaries(_text, _values, max_size=6)


def _reversed_keys(value: object) -> object:
    if isinstance(value, dict):
        return {k: _reversed_keys(v) for k, v in reversed(list(value.items()))}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


def _js_model(value: object) -> object:
    """What sortObject + JSON.stringify keep: arrays as index maps, numbers as doubles."""
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        return {str(k): _js_model(v) for k, v in items if k != "__proto__"}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    number = float(str(value))
    return None if number in (float("inf"), float("-inf")) else number


@settings(max_examples=300, deadline=None)
@given(obj=_objects, indent=st.sampled_from([None, 0, 2, "\t"]))
def test_canonical_form_ignores_layout_and_is_idempotent(obj: dict, indent: object) -> None:
    obj = json.loads(json.dumps(obj))  # as a body would carry it: escaped surrogate pairs joined
    compact = json.dumps(obj, separators=(",", ":")).encode()
    canonical = canonical_json(compact)
    assert canonical_json(canonical) == canonical
    relaid = json.dumps(_reversed_keys(obj), indent=indent, ensure_ascii=False)
    try:
        relaid_bytes = relaid.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates can only travel escaped
        relaid_bytes = json.dumps(_reversed_keys(obj), indent=indent).encode()
    assert canonical_json(relaid_bytes) == canonical
    assert sign(relaid_bytes, SECRET) == sign(compact, SECRET)
    assert json.loads(canonical, parse_int=float) == _js_model(obj)
