"""Verifying that a request comes from Herald: the receiving side."""

import base64
import binascii
import hashlib
import hmac
import json
import re
import time

from . import _ed25519

__all__ = [
    "FORMATS",
    "DEFAULT_TOLERANCE",
    "verify",
    "VerificationError",
    "NoSignature",
    "WrongFormat",
    "MissingHeader",
    "TimestampOutOfTolerance",
    "SignatureMismatch",
    "WrongSecret",
    "BodyChanged",
    "InvalidSecret",
    "UnknownFormat",
    "InvalidPayload",
]

#: The three formats Herald delivers in, in the order errors mention them.
FORMATS = ("infraaudit", "frugally", "standard")

#: How far, in seconds, a standard request's webhook-timestamp may be from now by
#: default, as the Standard Webhooks libraries do.
DEFAULT_TOLERANCE = 5 * 60

# The headers that carry each format's signatures: the main and -Next headers of the
# sha256= formats (the -Next one during a rotation), webhook-signature for standard.
_SIGNATURE_HEADERS = {
    "infraaudit": ("X-InfraAudit-Signature", "X-InfraAudit-Signature-Next"),
    "frugally": ("X-Frugally-Signature", "X-Frugally-Signature-Next"),
    "standard": ("webhook-signature",),
}

# Each entry of webhook-signature costs a check over the whole body: a request with
# thousands would cost the receiver seconds of CPU before it is refused.
_MAX_SIGNATURE_ENTRIES = 16

_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_SHA256_HEX = re.compile(r"sha256=([0-9a-fA-F]{64})\Z")


class VerificationError(Exception):
    """A request that does not verify, or a verification that cannot be set up.

    Every error verify raises is one of its subclasses; ``reason`` names which, in the
    words of the Go receiver library's errors (``"wrong_secret"``, ``"body_changed"``…),
    and the message says exactly what is wrong. No message ever contains a secret.
    Answer a request that fails with 400 or 401 and do not act on it.
    """

    reason = "verification_failed"


class NoSignature(VerificationError):
    """The request carries no signature header of the format verified."""

    reason = "no_signature"


class WrongFormat(VerificationError):
    """The request carries no signature header of the format verified, but another
    format's; the message names the format the request looks like."""

    reason = "wrong_format"


class MissingHeader(VerificationError):
    """A standard request's webhook-id or webhook-timestamp header is absent or
    malformed; the message names it."""

    reason = "missing_header"


class TimestampOutOfTolerance(VerificationError):
    """A standard request's webhook-timestamp is further from now than the tolerance,
    in either direction: a stale request, perhaps replayed. The message says how far."""

    reason = "timestamp_out_of_tolerance"


class SignatureMismatch(VerificationError):
    """No signature of the request matches any secret given. Its subclasses say why
    when the request's Content-Digest header tells."""

    reason = "signature_mismatch"


class WrongSecret(SignatureMismatch):
    """The signature does not match, but the body matches its Content-Digest header,
    so it is intact: the secret is wrong."""

    reason = "wrong_secret"


class BodyChanged(SignatureMismatch):
    """The signature does not match, and neither does the body's Content-Digest: the
    body was changed after it was sent (re-serialised, trimmed, re-encoded)."""

    reason = "body_changed"


class InvalidSecret(VerificationError, ValueError):
    """A secret or key given to verify is malformed, or of a kind the format does not
    use. This is a mistake in the receiver's configuration, not in the request."""

    reason = "invalid_secret"


class UnknownFormat(VerificationError, ValueError):
    """The format given is not infraaudit, frugally or standard."""

    reason = "unknown_format"


class InvalidPayload(VerificationError):
    """The body verifies but is not a JSON object, so it is not an envelope Herald
    sends."""

    reason = "invalid_payload"


def verify(body, headers, secret, format="standard", *, tolerance=DEFAULT_TOLERANCE, now=None):
    """Check that body, received with headers, was signed by Herald with secret, and
    return the envelope it carries as a dict.

    body is the raw bytes received: not parsed and re-serialised, not decoded, not
    trimmed. headers is any mapping of header names to values, looked up regardless of
    case: a dict, ``http.server``'s ``self.headers``, Flask's ``request.headers``,
    Django's ``request.headers``, Starlette's ``request.headers``. Repeated headers are
    read in full where the mapping keeps them (``getlist``, ``get_all``) or as a list
    value.

    secret is the webhook's signing secret (``whsec_…``), or for a standard ed25519
    webhook its public key (``whpk_…``); during a rotation give a list of both the old
    and the new one. format is the webhook's: ``"standard"``, ``"infraaudit"`` or
    ``"frugally"``.

    For standard, webhook-id and webhook-timestamp must be present and the timestamp
    within tolerance seconds of now (a number, or None for no check; now is Unix
    seconds, default the clock), checked before any signature; then one entry of
    webhook-signature must match: ``v1,`` entries against whsec_ secrets, ``v1a,``
    entries (ed25519) against whpk_ keys; other versions are ignored. For infraaudit and
    frugally, the signature header or its -Next header must match. Signatures are
    compared in constant time.

    Raises a VerificationError subclass saying why the request does not verify.
    """
    if isinstance(body, str):
        raise TypeError("verify needs the raw body as bytes, as received: not a str, which was decoded (and perhaps changed) on the way")
    body = bytes(body)
    keys = _parse_secrets(format, secret)
    header = _Headers(headers)
    _check_present(format, header)
    if format == "standard":
        _verify_standard(header, body, keys, tolerance, now)
    else:
        _verify_sha256(format, header, body, keys)
    try:
        envelope = json.loads(body)
    except ValueError:  # UnicodeDecodeError is one
        raise InvalidPayload("webhook: the body verifies but is not JSON") from None
    if not isinstance(envelope, dict):
        raise InvalidPayload("webhook: the body verifies but is not a JSON object")
    return envelope


class _Headers:
    """Case-insensitive access to the values of a request's headers."""

    def __init__(self, headers):
        if headers is None:
            headers = {}
        self._values = {}
        if hasattr(headers, "keys"):
            seen = set()
            for name in list(headers.keys()):
                key = name.decode("latin-1").lower() if isinstance(name, bytes) else str(name).lower()
                if key in seen:
                    continue  # a repeated header, whose values _all read the first time
                seen.add(key)
                self._add(name, self._all(headers, name))
        else:  # a sequence of (name, value) pairs, as ASGI and WSGI give them
            for name, value in headers:
                self._add(name, [value])

    @staticmethod
    def _all(headers, name):
        for method in ("getlist", "get_all"):
            get = getattr(headers, method, None)
            if get is not None:
                try:
                    values = get(name)
                except TypeError:
                    continue
                if values:
                    return list(values)
        value = headers[name]
        return list(value) if isinstance(value, (list, tuple)) else [value]

    def _add(self, name, values):
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        key = name.lower()
        for value in values:
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            self._values.setdefault(key, []).append(str(value))

    def values(self, name):
        """Every value of header name, in order; [] when absent."""
        return self._values.get(name.lower(), [])

    def first(self, name):
        """The first value of header name, or ""."""
        values = self.values(name)
        return values[0] if values else ""


class _Key:
    """A parsed secret: an HMAC key, or an ed25519 public key."""

    __slots__ = ("hmac", "public")

    def __init__(self, hmac_key=None, public=None):
        self.hmac = hmac_key
        self.public = public


def _parse_secrets(format, secret):
    if format not in FORMATS:
        raise UnknownFormat("webhook: unknown format %r: want infraaudit, frugally or standard" % (format,))
    secrets = [secret] if isinstance(secret, (str, bytes)) else list(secret or ())
    if not secrets:
        raise InvalidSecret("webhook: no secret configured")
    keys = []
    for i, s in enumerate(secrets):
        if isinstance(s, bytes):
            s = s.decode("utf-8", "replace")
        if not isinstance(s, str):
            raise InvalidSecret("webhook: secret %d of %d is a %s, not a string" % (i + 1, len(secrets), type(s).__name__))
        key, problem = _parse_secret(format, s)
        if problem:
            raise InvalidSecret("webhook: secret %d of %d: %s" % (i + 1, len(secrets), problem))
        keys.append(key)
    return keys


def _b64decode(s):
    """The bytes of standard, padded base64 s, or None."""
    try:
        return base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def _parse_secret(format, secret):
    """The key of secret for format, or the reason it is not one (never quoting it).

    The rules are Herald's own: infraaudit and frugally sign with the secret string
    itself, 16 to 256 printable ASCII characters; standard with the base64-decoded
    bytes after whsec_ (the prefix is optional), 24 to 64 of them, or an ed25519 key.
    """
    ed25519_key = secret.startswith("whsk_") or secret.startswith("whpk_")
    if format != "standard":
        if ed25519_key:
            return None, "ed25519 keys (whsk_, whpk_) are only used by the standard format, not " + format
        if not 16 <= len(secret) <= 256:
            return None, "a secret is 16 to 256 characters long, not %d" % len(secret)
        if any(not 0x21 <= ord(c) <= 0x7E for c in secret):
            return None, "a secret is printable ASCII without spaces (look for a trailing newline)"
        return _Key(hmac_key=secret.encode("ascii")), None
    if secret.startswith("whsk_"):
        b = _b64decode(secret[5:])
        if b is None or len(b) != 64:
            return None, "a private key is whsk_ followed by the base64 of 64 bytes (seed and public key)"
        if _ed25519.public_key_from_seed(b[:32]) != b[32:]:
            return None, "the private key's last 32 bytes are not the public key of its seed"
        return None, "a private key (whsk_) signs, it does not verify: give its public key (whpk_), which the webhook's API answer shows"
    if secret.startswith("whpk_"):
        b = _b64decode(secret[5:])
        if b is None or len(b) != 32:
            return None, "a public key is whpk_ followed by the base64 of 32 bytes"
        return _Key(public=b), None
    b = _b64decode(secret[6:] if secret.startswith("whsec_") else secret)
    if b is None:
        return None, "a standard secret is whsec_ followed by base64"
    if not 24 <= len(b) <= 64:
        return None, "a standard secret decodes to 24 to 64 bytes, not %d" % len(b)
    return _Key(hmac_key=b), None


def _check_present(format, header):
    mine = _SIGNATURE_HEADERS[format]
    if any(header.values(name) for name in mine):
        return
    for other in FORMATS:
        if other == format:
            continue
        for name in _SIGNATURE_HEADERS[other]:
            if header.values(name):
                raise WrongFormat(
                    "webhook: no %s header, but a %s header: the request looks like the %s format, and this verifier is for %s"
                    % (mine[0], name, other, format)
                )
    raise NoSignature("webhook: no %s header" % mine[0])


def _hmac_sha256(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def _verify_sha256(format, header, body, keys):
    sigs, malformed = [], []
    for name in _SIGNATURE_HEADERS[format]:
        for value in header.values(name):
            m = _SHA256_HEX.match(value.strip())
            if m is None:
                malformed.append(name)
                continue
            sigs.append(bytes.fromhex(m.group(1)))
    if not sigs:
        raise SignatureMismatch("webhook: %s is not sha256=<64 hex digits>" % " and ".join(malformed))
    for key in keys:
        want = _hmac_sha256(key.hmac, body)
        for sig in sigs:
            if hmac.compare_digest(sig, want):
                return
    _mismatch(header, body)


def _verify_standard(header, body, keys, tolerance, now):
    msg_id = header.first("webhook-id")
    if not msg_id:
        raise MissingHeader("webhook: no webhook-id header")
    ts_header = header.first("webhook-timestamp")
    if not ts_header:
        raise MissingHeader("webhook: no webhook-timestamp header")
    if not _INTEGER.match(ts_header) or not -(2**63) <= int(ts_header) < 2**63:
        raise MissingHeader("webhook: webhook-timestamp %r is not a number of Unix seconds" % ts_header)
    ts = int(ts_header)
    _check_timestamp(ts, tolerance, now)

    entries = " ".join(header.values("webhook-signature")).split()
    if len(entries) > _MAX_SIGNATURE_ENTRIES:
        raise SignatureMismatch(
            "webhook: webhook-signature has %d entries; a sender signs with at most a few keys, and more than %d are refused"
            % (len(entries), _MAX_SIGNATURE_ENTRIES)
        )
    msg = ("%s.%d." % (msg_id, ts)).encode("utf-8") + bytes(body)
    macs = [_hmac_sha256(k.hmac, msg) if k.hmac is not None else None for k in keys]
    checked = False  # whether some entry was of a version a key can check
    versions = []
    for entry in entries:
        version, _, b64 = entry.partition(",")
        versions.append(version)
        sig = _b64decode(b64)
        for key, mac in zip(keys, macs):
            if version == "v1" and key.hmac is not None:
                checked = True
                if sig is not None and hmac.compare_digest(sig, mac):
                    return
            elif version == "v1a" and key.public is not None:
                checked = True
                if sig is not None and _ed25519.verify(key.public, msg, sig):
                    return
    if not checked:
        raise SignatureMismatch(
            "webhook: webhook-signature has no entry the configured secrets can check "
            "(v1 for whsec_ secrets, v1a for whpk_ keys); its entries are versions %s" % versions
        )
    _mismatch(header, body)


def _check_timestamp(ts, tolerance, now):
    if tolerance is None or tolerance < 0:
        return
    if now is None:
        now = time.time()
    age = now - ts
    if age > tolerance:
        raise TimestampOutOfTolerance(
            "webhook: webhook-timestamp is %s in the past, more than the %s tolerance" % (_duration(age), _duration(tolerance))
        )
    if age < -tolerance:
        raise TimestampOutOfTolerance(
            "webhook: webhook-timestamp is %s in the future, more than the %s tolerance" % (_duration(-age), _duration(tolerance))
        )


def _duration(seconds):
    """seconds as Go prints a duration rounded to the second: 1h2m3s, 5m0s, 42s."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return "%dh%dm%ds" % (h, m, s)
    if m:
        return "%dm%ds" % (m, s)
    return "%ds" % s


def _mismatch(header, body):
    """Raise the error of a signature that matches no secret. The Content-Digest header,
    when present, tells a wrong secret from a changed body; without it, the body's
    shape may hint at a framework that re-serialised it."""
    digest = _sha256_digest(header.values("Content-Digest"))
    if digest is None:
        raise SignatureMismatch(
            "webhook: signature does not match: wrong secret, or the body was changed after it was sent" + _body_hint(body)
        )
    if hmac.compare_digest(digest, hashlib.sha256(body).digest()):
        raise WrongSecret(
            "webhook: signature does not match, but the body matches its Content-Digest header, so it is intact: the secret is wrong"
        )
    raise BodyChanged(
        "webhook: signature does not match, and the body does not match its Content-Digest header: the body was changed after it was sent"
        + _body_hint(body)
    )


def _sha256_digest(values):
    """The sha-256 member of Content-Digest values (an RFC 8941 dictionary such as
    "sha-256=:<base64>:, sha-512=:<base64>:"), or None."""
    digest = None
    for member in ",".join(values).split(","):
        name, _, value = member.strip().partition("=")
        if name.lower() != "sha-256":
            continue
        value = value.partition(";")[0].strip()  # drop parameters
        if len(value) < 2 or not value.startswith(":") or not value.endswith(":"):
            continue
        d = _b64decode(value[1:-1])
        if d is None or len(d) != 32:
            continue
        digest = d  # the last member of a name wins, as RFC 8941 says
    return digest


def _body_hint(body):
    """What may have changed body, or ""."""
    if not body:
        return " (the body is empty: was it read before verifying?)"
    if body.strip() != body:
        return " (the body has leading or trailing whitespace, which Herald never sends: verify the raw bytes received)"
    try:
        json.loads(body)
    except ValueError:
        return ""
    if not _compact(body):
        return " (the body is not compact JSON as Herald sends it: was it re-serialised? verify the raw bytes received)"
    return ""


def _compact(body):
    """Whether JSON body has no whitespace outside its strings."""
    in_string = escaped = False
    for c in bytes(body):
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:  # backslash
                escaped = True
            elif c == 0x22:  # quote
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in b" \t\r\n":
            return False
    return True
