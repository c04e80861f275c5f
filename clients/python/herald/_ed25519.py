"""Ed25519 signature verification (RFC 8032), in pure Python.

The standard library has no ed25519, and this package depends on nothing else, so the
verification of Standard Webhooks "v1a," signatures is written out here. It only ever
handles public data (public keys, signatures, signed messages), so it need not run in
constant time. It checks a signature the way Go's crypto/ed25519.Verify does, which is
what Herald signs with: S must be below the group order, the public key must decode to a
point of the curve, and [S]B - [k]A must encode to exactly the signature's R.
"""

import hashlib

__all__ = ["verify", "public_key_from_seed"]

_P = 2**255 - 19  # the field's prime
_L = 2**252 + 27742317777372353535851937790883648493  # the group's order
_D = (-121665 * pow(121666, _P - 2, _P)) % _P  # the curve's d
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)  # a square root of -1


def _recover_x(y, sign):
    """The x of the curve point with this y and x's low bit sign, or None."""
    if y >= _P:
        # Go accepts a y that is not reduced (most implementations do); so does this.
        y %= _P
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if x & 1 != sign:
        x = _P - x
    return x


# Points are in extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, xy = T/Z.
_BY = 4 * pow(5, _P - 2, _P) % _P
_BX = _recover_x(_BY, 0)
_B = (_BX, _BY, 1, _BX * _BY % _P)
_IDENTITY = (0, 1, 1, 0)


def _add(p, q):
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s, p):
    q = _IDENTITY
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _neg(p):
    return ((_P - p[0]) % _P, p[1], p[2], (_P - p[3]) % _P)


def _encode(p):
    zinv = pow(p[2], _P - 2, _P)
    x, y = p[0] * zinv % _P, p[1] * zinv % _P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _decode(b):
    """The point b encodes, or None."""
    if len(b) != 32:
        return None
    y = int.from_bytes(b, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    y %= _P
    return (x, y, 1, x * y % _P)


def verify(public_key, message, signature):
    """Whether signature is public_key's ed25519 signature of message (all bytes)."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode(public_key)
    if a is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % _L
    r = _add(_mul(s, _B), _mul(k, _neg(a)))
    return _encode(r) == signature[:32]


def public_key_from_seed(seed):
    """The 32-byte public key of a 32-byte private key seed."""
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return _encode(_mul(a, _B))
