"""NOWPayments IPN signatures: re-serialize the body exactly as their JavaScript signer does.

NOWPayments signs each IPN with ``x-nowpayments-sig`` = lower-case hex HMAC-SHA512 (key: the IPN
secret) over the body re-serialized by this JavaScript (their documented sample)::

    function sortObject(obj) {
      return Object.keys(obj).sort().reduce((result, key) => {
        result[key] = (obj[key] && typeof obj[key] === 'object') ? sortObject(obj[key]) : obj[key];
        return result;
      }, {});
    }
    JSON.stringify(sortObject(JSON.parse(body)))

Python's ``json.dumps(..., sort_keys=True)`` does not produce the same bytes, so
:func:`canonical_json` emulates the JavaScript semantics one by one:

* **Key order.** ``Array.prototype.sort`` compares strings by UTF-16 code units (so ``"😀"``,
  stored as the surrogates U+D83D U+DE00, sorts before ``"ｚ"`` U+FF5A). The sorted keys are then
  inserted into a fresh object, and a JavaScript object always enumerates its *array-index* keys
  (canonical decimal strings of integers below 2**32 - 1: ``"0"``, ``"2"``, ``"10"``, not
  ``"01"``, ``"-1"`` or ``"4294967295"``) first, in ascending numeric order, and only then the
  other keys in insertion order. ``{"b", "10", "2", "a"}`` therefore comes out as
  ``{"2", "10", "a", "b"}``.
* **Arrays are objects.** ``typeof [] === 'object'``, so ``sortObject`` turns ``[x, y]`` into
  ``{"0": x, "1": y}`` and ``[]`` into ``{}``. ``null`` is falsy and stays ``null``.
* **``__proto__``.** ``JSON.parse`` creates an own property named ``__proto__``, but
  ``result["__proto__"] = value`` calls the prototype setter instead of creating a property, so
  that key (at any depth) is *absent* from the signed text. We drop it too.
* **Numbers.** ``JSON.parse`` turns every number token into a double; ``JSON.stringify`` writes it
  with ``Number.prototype.toString`` (shortest round-trip digits, integer form up to 21 digits,
  ``e+``/``e-`` exponents, ``-0`` written ``0``) and writes non-finite values (a token such as
  ``1e400`` overflows to ``Infinity``) as ``null``. ``15.0`` is signed as ``15``, ``0.00000012``
  as ``1.2e-7`` and ``123456789012345678901`` as ``123456789012345680000``.
* **Strings.** Raw UTF-8 for everything except ``"`` and ``\\`` (escaped), ``\\b \\f \\n \\r
  \\t``, the other control characters below U+0020 (``\\u00xx``, lower-case hex) and lone
  surrogates (``\\udxxx``, lower-case hex: the "well-formed JSON.stringify" of ES2019).
  U+2028, U+2029 and U+007F are written raw; ``\\/`` in the input comes out as ``/``.
* **Duplicate keys.** ``JSON.parse`` keeps the *last* value, at the position of the *first*
  occurrence (the position is invisible after sorting, but the value is not).
* **No whitespace** anywhere.

Consequences for callers: the signature covers the *parsed doubles*, not the text. Bodies that
differ only in number spelling (``15`` / ``15.0`` / ``1.5e1``), in digits beyond double precision
(``123456789012345678901`` / ``123456789012345680000``), in ``null`` versus an overflowing number,
in whitespace, key order, escapes or in ``__proto__`` keys carry the same signature. Read the
amounts you act on at double precision (or from :func:`canonical_json`'s output), never trust a
``__proto__`` key, and do not use more digits than a double holds as an identity.

Bodies nested deeper than :data:`MAX_DEPTH` or holding more than :data:`MAX_ITEMS` keys and
array elements are refused (``ValueError``) before they are parsed; a real IPN is far from
either bound. Only the standard library is used. :func:`well_formed` (the header alone) and
:func:`verify` are the entry points for the webhook handler.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from typing import TypeGuard

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "canonical_json",
    "sign",
    "signs",
    "verify",
    "well_formed",
]

MAX_DEPTH = 100
"""Deepest nesting of objects/arrays accepted in a body (the top-level object is depth 1)."""

MAX_ITEMS = 1000
"""Most keys and array elements accepted in a body, all levels together (a real IPN has about
30). Counted before parsing as the commas and opening brackets outside strings, so an empty
``{}`` or ``[]`` counts as one; the count stops at the bound, keeping the refusal cheap."""

_ARRAY_INDEX_LIMIT = 2**32 - 1  # array indices are 0 .. 2**32 - 2 (ECMA-262 "array index")
_ARRAY_INDEX_RE = re.compile(r"0|[1-9][0-9]*")
_HEADER_RE = re.compile(r"[0-9a-fA-F]{128}")
# What JSON.stringify escapes: '"', '\\', control characters and lone surrogates. Python's json
# module turns an escaped *pair* of surrogates into one code point, so any surrogate left in a
# parsed string is a lone one.
_ESCAPED_CHAR_RE = re.compile('[\x00-\x1f"\\\\\ud800-\udfff]')
_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
# Strings (so brackets and commas inside them are not counted), brackets and commas, for the
# shape pre-scan. An unterminated string runs to the end of the text (the parser fails there),
# which keeps the scan linear even for adversarial input.
_SHAPE_TOKEN_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{},]', re.DOTALL)


class _JSObject(dict):
    """A parsed JSON object (a dict subclass, so arrays and objects can be told apart)."""


def _object_from_pairs(pairs: list[tuple[str, object]]) -> _JSObject:
    # JSON.parse semantics for duplicates: assignment to an existing key replaces the value and
    # keeps the key where it first appeared. That is also what dict item assignment does.
    obj = _JSObject()
    for key, value in pairs:
        obj[key] = value
    return obj


def _parse_number(token: str) -> float:
    # JSON.parse reads every number as the nearest double; float() rounds the same way
    # (round-half-even, exact for any length of token).
    return float(token)


def _reject_constant(token: str) -> float:
    raise ValueError(f"{token} is not JSON")


def _check_shape(text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH (before json.loads could hit the recursion limit)
    and more than MAX_ITEMS keys and array elements (before parsing and sorting them costs).

    The scan lexes strings the way JSON does, so brackets and commas inside strings are
    skipped. On text that is not JSON it may count differently from the parser, but only after
    the point where the parser fails anyway, so the parser never goes deeper than what was
    counted here. In JSON, an object or array of n entries has one opening bracket and n - 1
    commas, so their sum bounds the entries from above.
    """
    # Every key, element and nesting level needs a `[`, `{` or `,` somewhere in the text (in a
    # string or not), so a text with few of them (any real IPN) is within both bounds at once.
    if text.count(",") + text.count("[") + text.count("{") <= min(MAX_ITEMS, MAX_DEPTH):
        return
    depth = 0
    items = 0
    for match in _SHAPE_TOKEN_RE.finditer(text):
        char = match.group()
        if char in "[{,":
            items += 1
            if items > MAX_ITEMS:
                raise ValueError(f"JSON with more than {MAX_ITEMS} keys and array elements")
            if char == ",":
                continue
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
        elif char in "]}":
            depth -= 1


def _parse(body: bytes) -> _JSObject:
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError("body must be bytes")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"body is not valid UTF-8: {exc}") from None
    _check_shape(text)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_from_pairs,
            parse_float=_parse_number,
            parse_int=_parse_number,
            parse_constant=_reject_constant,
        )
    except RecursionError:  # the pre-scan should make this unreachable; stay safe anyway
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:  # a ValueError; restate it without the chained noise
        raise ValueError(f"body is not valid JSON: {exc}") from None
    if not isinstance(value, _JSObject):
        raise ValueError("the top level of the body is not a JSON object")
    return value


def _utf16_sort_key(key: str) -> bytes:
    # Big-endian UTF-16 compares byte-wise exactly like code units compare in JavaScript.
    return key.encode("utf-16-be", "surrogatepass")


def _is_array_index(key: str) -> bool:
    return _ARRAY_INDEX_RE.fullmatch(key) is not None and int(key) < _ARRAY_INDEX_LIMIT


def _js_key_order(keys: list[str]) -> list[str]:
    """Keys in the order JSON.stringify lists them after sortObject rebuilt the object."""
    if all(key.isascii() and not key[:1].isdigit() for key in keys):
        return sorted(keys)  # no array index, and code points compare as UTF-16 units do
    ordered = sorted(keys, key=_utf16_sort_key)
    indices = sorted((k for k in ordered if _is_array_index(k)), key=int)
    return indices + [k for k in ordered if not _is_array_index(k)]


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _js_string(value: str) -> str:
    return '"' + _ESCAPED_CHAR_RE.sub(_escape_char, value) + '"'


def _js_number(value: float) -> str:
    """``JSON.stringify`` of a double: ECMAScript Number::toString, ``null`` if not finite."""
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"  # also -0
    if value < 0:
        return "-" + _js_number(-value)
    # repr() gives the shortest digits that round-trip, as ECMAScript asks for.
    mantissa, _, exponent = repr(value).partition("e")
    integer_part, _, fraction = mantissa.partition(".")
    digits = integer_part + fraction
    point = len(integer_part) + int(exponent or "0")  # decimal point after this many digits
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    # Now value == 0.<digits> * 10**point: ECMAScript's s = digits, k = len(digits), n = point.
    k, n = len(digits), point
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    exp = n - 1
    sign = "+" if exp >= 0 else "-"
    head = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{head}e{sign}{abs(exp)}"


def _serialize(value: object, out: list[str]) -> None:
    # Recursion is bounded by MAX_DEPTH (checked before parsing).
    if isinstance(value, dict | list):
        items = value if isinstance(value, dict) else {str(i): v for i, v in enumerate(value)}
        out.append("{")
        first = True
        for key in _js_key_order(list(items)):
            if key == "__proto__":
                continue  # result["__proto__"] = ... hits the prototype setter, not a property
            if not first:
                out.append(",")
            first = False
            out.append(_js_string(key))
            out.append(":")
            _serialize(items[key], out)
        out.append("}")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_js_string(value))
    elif isinstance(value, float):
        out.append(_js_number(value))
    else:  # pragma: no cover - json.loads with our hooks produces nothing else
        raise TypeError(f"unexpected parsed value {value!r}")


def canonical_json(body: bytes) -> bytes:
    """The exact bytes NOWPayments signs for ``body``: its sorted ``JSON.stringify`` form.

    Raises ``ValueError`` if ``body`` is not UTF-8, not JSON (``NaN``/``Infinity`` included),
    nested deeper than :data:`MAX_DEPTH`, holds more than :data:`MAX_ITEMS` keys and array
    elements, or if its top level is not an object.
    """
    out: list[str] = []
    _serialize(_parse(body), out)
    return "".join(out).encode("utf-8")


def _hmac_key(secret: str) -> bytes:
    # Node's createHmac encodes a string key as UTF-8, replacing lone surrogates with U+FFFD.
    # The UTF-16 round trip does exactly that (and joins a split surrogate pair, as JS would).
    return (
        secret.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace").encode("utf-8")
    )


def sign(body: bytes, secret: str) -> str:
    """Lower-case hex HMAC-SHA512 of :func:`canonical_json` ``(body)`` keyed with ``secret``.

    This is the value NOWPayments puts in ``x-nowpayments-sig``. Raises ``ValueError`` for a
    body :func:`canonical_json` refuses.
    """
    return hmac.new(_hmac_key(secret), canonical_json(body), hashlib.sha512).hexdigest()


def well_formed(header: object) -> TypeGuard[str]:
    """Whether ``header`` looks like a signature at all: exactly 128 ASCII hex digits (either
    case). Cheap, and needs no body: a webhook without one can be refused before it is read."""
    return isinstance(header, str) and _HEADER_RE.fullmatch(header) is not None


def verify(body: bytes, header: str | None, secret: str) -> bool:
    """Whether ``header`` (the ``x-nowpayments-sig`` value) is the signature of ``body``.

    The body is checked first: ``ValueError`` if it is not a valid JSON object (see
    :func:`canonical_json`), whatever the header, so the caller can answer HTTP 400. Otherwise
    the result is ``False`` for a missing header, one that is not exactly 128 ASCII hex digits
    (either case is accepted), a wrong signature, or an empty ``secret`` (an empty key would let
    anyone sign). Any header value, of any type, never raises. The comparison is constant-time.
    """
    return signs(canonical_json(body), header, secret)


def signs(canonical: bytes, header: str | None, secret: str) -> bool:
    """:func:`verify` for a body already made canonical (:func:`canonical_json`), so a caller
    that reads the event from the canonical form builds it once."""
    if not well_formed(header):
        return False
    if not isinstance(secret, str) or not secret:
        return False
    expected = hmac.new(_hmac_key(secret), canonical, hashlib.sha512).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.lower().encode("ascii"))
