"""Deterministic deposit addresses for the sandbox (simulated) provider, which no wallet on a
real network accepts.

Addresses are derived from a caller supplied ``seed`` with domain-separated SHA-256, so the
same seed always gives the same address and different seeds (or kinds) give different ones.
Nobody holds their keys, so a payment sent to one would be lost: each kind is therefore made
unusable on every real network, so that a wallet refuses it instead of paying into it:

* ``bitcoin`` / ``litecoin``: bech32 segwit v0 under the *regtest* prefixes ``bcrt1q...`` /
  ``rltc1q...`` (a valid regtest address: no mainnet or public-testnet wallet takes it);
* ``evm``: ``0xTEST`` + 36 hex digits (``T`` and ``S`` are not hex: no EVM chain, testnets
  included, has such an address; EVM addresses have no testnet form to use instead);
* ``solana``: ``TEST0`` + base58, ``tron``: ``TEST0`` + base58 (34 characters, like a TRON
  address), ``ripple``: ``rTEST0`` + base58 in the Ripple alphabet: ``0`` is in neither
  base58 alphabet, so no wallet decodes them (their testnets use the mainnet format too).

The encodings below (pure Python, no third-party dependencies) build and check them:

* BIP-173 bech32 segwit v0 (P2WPKH, 20-byte program): ``bc1q...`` / ``ltc1q...``
* EIP-55 mixed-case checksummed EVM addresses (with a small pure-Python Keccak-256)
* base58 (Bitcoin alphabet) for Solana public keys
* base58check for TRON (version byte 0x41, ``T...``) and the XRP Ledger (Ripple alphabet,
  version byte 0x00, ``r...``)
"""

from __future__ import annotations

import hashlib

__all__ = [
    "BITCOIN_ALPHABET",
    "KINDS",
    "RIPPLE_ALPHABET",
    "b58check_decode",
    "b58check_encode",
    "b58decode",
    "b58encode",
    "bech32_decode",
    "bech32_encode",
    "keccak256",
    "sandbox_address",
    "sandbox_memo",
    "segwit_decode",
    "segwit_encode",
    "to_checksum_address",
]

#: Address kinds understood by :func:`sandbox_address`.
KINDS: frozenset[str] = frozenset({"bitcoin", "litecoin", "evm", "solana", "tron", "ripple"})

BITCOIN_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
RIPPLE_ALPHABET = "rpshnaf39wBUDNEGHJKLM4PQRST7VWXYZ2bcdeCg65jkm8oFqi1tuvAxyz"

TRON_VERSION = 0x41
RIPPLE_VERSION = 0x00
_SEGWIT_HRP = {"bitcoin": "bcrt", "litecoin": "rltc"}  # regtest: unusable on real networks
_DOMAIN = b"paybot-sandbox-address/v1"

# --------------------------------------------------------------------------- sandbox API


def sandbox_address(kind: str, seed: bytes) -> str:
    """Return a deterministic deposit address of ``kind`` derived from ``seed`` that no wallet
    on a real network accepts (see the module's docstring).

    :param kind: one of :data:`KINDS`: ``"bitcoin"`` (``bcrt1q...``), ``"litecoin"``
        (``rltc1q...``), ``"evm"`` (``0xTEST...``), ``"solana"`` (``TEST0...``),
        ``"tron"`` (``TEST0...``) or ``"ripple"`` (``rTEST0...``).
    :param seed: arbitrary bytes, e.g. an invoice id; same seed -> same address.
    :raises ValueError: on an unknown ``kind``.
    :raises TypeError: if ``seed`` is not bytes.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown address kind: {kind!r} (expected one of {sorted(KINDS)})")
    digest = _derive(kind, seed)
    if kind in _SEGWIT_HRP:
        return segwit_encode(_SEGWIT_HRP[kind], 0, digest[:20])
    if kind == "evm":
        return "0xTEST" + digest[:18].hex()
    if kind == "solana":
        return "TEST0" + b58encode(digest)[:39]
    if kind == "tron":
        return "TEST0" + b58check_encode(bytes([TRON_VERSION]) + digest[:20])[5:]
    ripple = b58check_encode(bytes([RIPPLE_VERSION]) + digest[:20], alphabet=RIPPLE_ALPHABET)
    return "rTEST0" + ripple[6:]


def sandbox_memo(seed: bytes) -> str:
    """Return a deterministic 9-digit numeric destination tag (100000000..999999999)."""
    value = int.from_bytes(_derive("memo", seed)[:8], "big")
    return str(100_000_000 + value % 900_000_000)


def _derive(purpose: str, seed: bytes) -> bytes:
    """Domain-separated 32-byte digest of ``seed`` for ``purpose``."""
    if not isinstance(seed, bytes | bytearray):
        raise TypeError(f"seed must be bytes, got {type(seed).__name__}")
    tag = _DOMAIN + b"/" + purpose.encode("ascii") + b"/"
    return hashlib.sha256(tag + bytes(seed)).digest()


# --------------------------------------------------------------------------- base58


def b58encode(data: bytes, alphabet: str = BITCOIN_ALPHABET) -> str:
    """Base58-encode ``data``; each leading zero byte becomes ``alphabet[0]``."""
    number = int.from_bytes(data, "big")
    chars: list[str] = []
    while number:
        number, rem = divmod(number, 58)
        chars.append(alphabet[rem])
    pad = len(data) - len(data.lstrip(b"\x00"))
    return alphabet[0] * pad + "".join(reversed(chars))


def b58decode(text: str, alphabet: str = BITCOIN_ALPHABET) -> bytes:
    """Decode base58 ``text``; raises ValueError on characters outside ``alphabet``."""
    number = 0
    for char in text:
        index = alphabet.find(char)
        if index < 0:
            raise ValueError(f"invalid base58 character {char!r}")
        number = number * 58 + index
    pad = len(text) - len(text.lstrip(alphabet[0]))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\x00" * pad + body


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]


def b58check_encode(payload: bytes, alphabet: str = BITCOIN_ALPHABET) -> str:
    """Base58check: base58 of ``payload`` + first 4 bytes of double SHA-256 of ``payload``."""
    return b58encode(payload + _checksum(payload), alphabet)


def b58check_decode(text: str, alphabet: str = BITCOIN_ALPHABET) -> bytes:
    """Decode base58check ``text`` and return the payload (version byte included).

    :raises ValueError: on invalid characters, short input or a checksum mismatch.
    """
    raw = b58decode(text, alphabet)
    if len(raw) < 5:
        raise ValueError("base58check string too short")
    payload, check = raw[:-4], raw[-4:]
    if _checksum(payload) != check:
        raise ValueError("base58check checksum mismatch")
    return payload


# --------------------------------------------------------------------------- bech32 (BIP-173)

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _bech32_polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_BECH32_GEN):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _bech32_hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def bech32_encode(hrp: str, data: list[int]) -> str:
    """Encode 5-bit ``data`` under ``hrp`` with a BIP-173 (bech32, constant 1) checksum."""
    values = _bech32_hrp_expand(hrp) + list(data)
    polymod = _bech32_polymod(values + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32_CHARSET[d] for d in list(data) + checksum)


def bech32_decode(text: str) -> tuple[str, list[int]]:
    """Decode and verify a BIP-173 bech32 string; return ``(hrp, 5-bit data)``.

    :raises ValueError: on mixed case, bad characters, bad length or a wrong checksum.
    """
    if text.lower() != text and text.upper() != text:
        raise ValueError("bech32 string has mixed case")
    if any(ord(c) < 33 or ord(c) > 126 for c in text) or len(text) > 90:
        raise ValueError("bech32 string has invalid characters or length")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1 or sep + 7 > len(text):
        raise ValueError("bech32 separator misplaced")
    hrp, rest = text[:sep], text[sep + 1 :]
    if any(c not in _BECH32_CHARSET for c in rest):
        raise ValueError("invalid bech32 data character")
    data = [_BECH32_CHARSET.index(c) for c in rest]
    if _bech32_polymod(_bech32_hrp_expand(hrp) + data) != 1:
        raise ValueError("bech32 checksum mismatch")
    return hrp, data[:-6]


def _convertbits(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        if value < 0 or value >> frombits:
            raise ValueError("value out of range for bit conversion")
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad and bits:
        out.append((acc << (tobits - bits)) & maxv)
    elif not pad and (bits >= frombits or (acc << (tobits - bits)) & maxv):
        raise ValueError("invalid padding in bit conversion")
    return out


def segwit_encode(hrp: str, witver: int, program: bytes) -> str:
    """Encode a segwit v0 address (bech32; v1+ would need bech32m and is rejected)."""
    if witver != 0:
        raise ValueError("only witness version 0 (bech32) is supported")
    if len(program) not in (20, 32):
        raise ValueError("witness v0 program must be 20 or 32 bytes")
    return bech32_encode(hrp, [witver] + _convertbits(program, 8, 5, pad=True))


def segwit_decode(hrp: str, address: str) -> tuple[int, bytes]:
    """Decode a segwit v0 ``address`` for ``hrp``; return ``(witness version, program)``."""
    got_hrp, data = bech32_decode(address)
    if got_hrp != hrp:
        raise ValueError(f"expected hrp {hrp!r}, got {got_hrp!r}")
    if not data or data[0] != 0:
        raise ValueError("only witness version 0 (bech32) is supported")
    program = bytes(_convertbits(data[1:], 5, 8, pad=False))
    if len(program) not in (20, 32):
        raise ValueError("witness v0 program must be 20 or 32 bytes")
    return 0, program


# --------------------------------------------------------------------------- keccak / EIP-55

_MASK64 = (1 << 64) - 1


def _rotl(lane: int, shift: int) -> int:
    return ((lane << shift) | (lane >> (64 - shift))) & _MASK64 if shift else lane


def _keccak_constants() -> tuple[list[int], list[int]]:
    """Round constants and rho offsets (lane index x + 5*y), computed as in FIPS 202."""
    rotations = [0] * 25
    x, y = 1, 0
    for t in range(24):
        rotations[x + 5 * y] = (t + 1) * (t + 2) // 2 % 64
        x, y = y, (2 * x + 3 * y) % 5
    lfsr, round_constants = 1, []
    for _ in range(24):
        rc = 0
        for j in range(7):
            if lfsr & 1:
                rc |= 1 << ((1 << j) - 1)
            lfsr = ((lfsr << 1) ^ (0x71 if lfsr & 0x80 else 0)) & 0xFF
        round_constants.append(rc)
    return round_constants, rotations


_ROUND_CONSTANTS, _ROTATIONS = _keccak_constants()


def _keccak_f1600(a: list[int]) -> list[int]:
    for rc in _ROUND_CONSTANTS:
        c = [a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rotl(c[(x + 1) % 5], 1) for x in range(5)]
        a = [a[i] ^ d[i % 5] for i in range(25)]
        b = [0] * 25
        for x in range(5):
            for y in range(5):
                b[y + 5 * ((2 * x + 3 * y) % 5)] = _rotl(a[x + 5 * y], _ROTATIONS[x + 5 * y])
        a = [b[i] ^ (~b[(i % 5 + 1) % 5 + i - i % 5] & b[(i % 5 + 2) % 5 + i - i % 5])
             for i in range(25)]  # fmt: skip
        a[0] ^= rc
    return a


def keccak256(data: bytes) -> bytes:
    """Original Keccak-256 as used by Ethereum (pad10*1 with 0x01, *not* SHA3-256's 0x06)."""
    return _sponge256(data, 0x01)


def _sponge256(data: bytes, domain: int) -> bytes:
    """Keccak[c=512] sponge, 256-bit output; ``domain`` 0x01 = Keccak-256, 0x06 = SHA3-256."""
    rate = 136
    padded = bytearray(data) + bytes([domain]) + b"\x00" * ((-len(data) - 1) % rate)
    padded[-1] |= 0x80
    state = [0] * 25
    for offset in range(0, len(padded), rate):
        block = padded[offset : offset + rate]
        for i in range(rate // 8):
            state[i] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        state = _keccak_f1600(state)
    return b"".join(lane.to_bytes(8, "little") for lane in state[:4])


def to_checksum_address(address: str) -> str:
    """EIP-55 mixed-case checksum of a 20-byte hex address (with or without ``0x``)."""
    hex_part = address.lower().removeprefix("0x")
    if len(hex_part) != 40 or any(c not in "0123456789abcdef" for c in hex_part):
        raise ValueError(f"not a 20-byte hex address: {address!r}")
    hashed = keccak256(hex_part.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(h, 16) >= 8 else c
        for c, h in zip(hex_part, hashed[:40], strict=True)
    )
