"""herald.verify against the shared vectors, RFC 8032's ed25519 vectors, and the header
mappings web frameworks hand a receiver."""

import email.message
import hashlib
import json
import os
import time
import unittest

import herald
from herald import _ed25519

HERE = os.path.dirname(os.path.abspath(__file__))

# The vectors every client shares, written and checked by the Go receiver library
# (go run ./clients/testdata/genvectors).
VECTOR_FILES = [
    os.path.join(HERE, "..", "..", "testdata", "vectors.json"),
]

REASONS = {
    "no_signature": herald.NoSignature,
    "wrong_format": herald.WrongFormat,
    "missing_header": herald.MissingHeader,
    "timestamp_out_of_tolerance": herald.TimestampOutOfTolerance,
    "signature_mismatch": herald.SignatureMismatch,
    "wrong_secret": herald.WrongSecret,
    "body_changed": herald.BodyChanged,
    "invalid_secret": herald.InvalidSecret,
    "unknown_format": herald.UnknownFormat,
}

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_HEADERS = {
    "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "webhook-timestamp": "1614265330",
    "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}
SPEC_BODY = b'{"test": 2432232314}'
SPEC_NOW = 1614265330


# Reasons the shared file may spell otherwise than this package's errors do.
REASON_ALIASES = {"stale_timestamp": "timestamp_out_of_tolerance"}


def load_vectors(path):
    """The vectors of path, in one shape: both files' spellings are read (a list or
    {"vectors": [...]}; secret or secrets; now or timestamp as the verifier's clock;
    valid, or an empty error, for a request that verifies)."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    vectors = doc["vectors"] if isinstance(doc, dict) else doc
    if len(vectors) < 10:
        raise AssertionError("%s holds %d vectors: too few to be the shared file" % (path, len(vectors)))
    out = []
    for v in vectors:
        error = "" if v.get("valid") else (v.get("error") or "")
        if v.get("valid") is False and not error:
            raise AssertionError("%s: vector %r is invalid without a reason" % (path, v["name"]))
        out.append({
            "name": v["name"],
            "format": v["format"],
            "secrets": v["secrets"] if "secrets" in v else [v["secret"]],
            "body": v["body"],
            "headers": v["headers"],
            "now": v["now"] if "now" in v else v["timestamp"],
            "tolerance_seconds": v.get("tolerance_seconds", 300),
            "error": REASON_ALIASES.get(error, error),
        })
    return out


class VectorsTest(unittest.TestCase):
    def test_vectors(self):
        files = [p for p in VECTOR_FILES if os.path.exists(p)]
        self.assertTrue(files, "no vectors file at %s" % VECTOR_FILES)
        for path in files:
            vectors = load_vectors(path)
            # The file must hold what it promises: the spec vector and an ed25519 one.
            self.assertTrue(any(v["headers"].get("webhook-signature", "").startswith("v1,g0hM9SsE") and not v["error"] for v in vectors))
            self.assertTrue(any("v1a," in v["headers"].get("webhook-signature", "") and not v["error"] for v in vectors))
            for v in vectors:
                with self.subTest(file=os.path.basename(path), name=v["name"]):
                    self.check(v)

    def check(self, v):
        def run():
            return herald.verify(
                v["body"].encode("utf-8"),
                v["headers"],
                v["secrets"],
                v["format"],
                tolerance=v["tolerance_seconds"],
                now=v["now"],
            )

        if not v["error"]:
            self.assertIsInstance(run(), dict)
            return
        want = REASONS[v["error"]]
        with self.assertRaises(want) as caught:
            run()
        # Exactly that reason, not a parent's: a wrong secret is not reported as the
        # vaguer signature_mismatch, nor the reverse.
        self.assertEqual(caught.exception.reason, v["error"], str(caught.exception))
        self.assertIsInstance(caught.exception, herald.VerificationError)
        for s in v["secrets"]:
            self.assertNotIn(s, str(caught.exception), "an error message quotes a secret")


class Ed25519Test(unittest.TestCase):
    # RFC 8032 section 7.1, tests 1 to 3: secret key, public key, message, signature.
    RFC8032 = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ]

    def test_rfc8032(self):
        for seed, public, msg, sig in self.RFC8032:
            seed, public, msg, sig = (bytes.fromhex(x) for x in (seed, public, msg, sig))
            self.assertEqual(_ed25519.public_key_from_seed(seed), public)
            self.assertTrue(_ed25519.verify(public, msg, sig))
            self.assertFalse(_ed25519.verify(public, msg + b"x", sig))
            bad = bytearray(sig)
            bad[5] ^= 1
            self.assertFalse(_ed25519.verify(public, msg, bytes(bad)))
            self.assertFalse(_ed25519.verify(public, msg, sig[:63]))

    def test_s_not_reduced(self):
        # A signature whose S is S + L verifies under a lax implementation; Go and this
        # one refuse it, so a signature is never accepted in two spellings.
        _, public, msg, sig = (bytes.fromhex(x) for x in self.RFC8032[0])
        s = int.from_bytes(sig[32:], "little") + _ed25519._L
        self.assertFalse(_ed25519.verify(public, msg, sig[:32] + s.to_bytes(32, "little")))

    def test_not_a_point(self):
        _, _, msg, sig = (bytes.fromhex(x) for x in self.RFC8032[0])
        y2 = (2).to_bytes(32, "little")  # y = 2 is on no point of the curve
        self.assertIsNone(_ed25519._decode(y2))
        self.assertFalse(_ed25519.verify(y2, msg, sig))


class HeadersTest(unittest.TestCase):
    """verify reads the header containers of the standard library and the frameworks."""

    def verify(self, headers):
        return herald.verify(SPEC_BODY, headers, SPEC_SECRET, now=SPEC_NOW)

    def test_email_message(self):
        # http.server's self.headers and urllib's response headers are this class.
        m = email.message.Message()
        for k, v in SPEC_HEADERS.items():
            m[k.title()] = v
        self.assertEqual(self.verify(m), {"test": 2432232314})

    def test_email_message_repeated(self):
        # A header repeated under two spellings is read once per value, not twice.
        m = email.message.Message()
        m["webhook-id"], m["webhook-timestamp"] = SPEC_HEADERS["webhook-id"], SPEC_HEADERS["webhook-timestamp"]
        m["Webhook-Signature"] = "v1,bm9wZQ=="
        m["webhook-signature"] = SPEC_HEADERS["webhook-signature"]
        self.verify(m)
        from herald._verify import _Headers

        self.assertEqual(len(_Headers(m).values("WEBHOOK-SIGNATURE")), 2)

    def test_pairs(self):
        # WSGI and ASGI give a list of (name, value) pairs, ASGI in bytes.
        self.verify([(k.upper(), v) for k, v in SPEC_HEADERS.items()])
        self.verify([(k.encode(), v.encode()) for k, v in SPEC_HEADERS.items()])

    def test_multi_dict(self):
        # Werkzeug's and Starlette's Headers keep repeated headers behind getlist.
        class MultiHeaders(dict):
            def __init__(self, pairs):
                super().__init__()
                self.pairs = pairs
                for k, v in pairs:
                    self.setdefault(k, v)

            def getlist(self, name):
                return [v for k, v in self.pairs if k.lower() == name.lower()]

        old = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        pairs = [("Webhook-Id", SPEC_HEADERS["webhook-id"]), ("Webhook-Timestamp", SPEC_HEADERS["webhook-timestamp"])]
        pairs += [("Webhook-Signature", old), ("Webhook-Signature", SPEC_HEADERS["webhook-signature"])]
        self.verify(MultiHeaders(pairs))

    def test_list_values(self):
        headers = dict(SPEC_HEADERS)
        headers["webhook-signature"] = ["v1,bm9wZQ==", SPEC_HEADERS["webhook-signature"]]
        self.verify(headers)

    def test_body_types(self):
        herald.verify(bytearray(SPEC_BODY), SPEC_HEADERS, SPEC_SECRET, now=SPEC_NOW)
        herald.verify(memoryview(SPEC_BODY), SPEC_HEADERS, SPEC_SECRET, now=SPEC_NOW)
        with self.assertRaisesRegex(TypeError, "raw body as bytes"):
            herald.verify(SPEC_BODY.decode(), SPEC_HEADERS, SPEC_SECRET, now=SPEC_NOW)


class MessagesTest(unittest.TestCase):
    """The errors say what to fix."""

    def test_reserialised_body(self):
        body = json.dumps(json.loads(SPEC_BODY), indent=2).encode()
        with self.assertRaisesRegex(herald.SignatureMismatch, "re-serialised"):
            herald.verify(body, SPEC_HEADERS, SPEC_SECRET, now=SPEC_NOW)

    def test_empty_body(self):
        with self.assertRaisesRegex(herald.SignatureMismatch, "body is empty"):
            herald.verify(b"", SPEC_HEADERS, SPEC_SECRET, now=SPEC_NOW)

    def test_stale_says_how_far(self):
        with self.assertRaisesRegex(herald.StaleTimestamp, "1h0m0s in the past, more than the 5m0s tolerance"):
            herald.verify(SPEC_BODY, SPEC_HEADERS, SPEC_SECRET, now=SPEC_NOW + 3600)

    def test_tolerance_none(self):
        self.verify_ok = herald.verify(SPEC_BODY, SPEC_HEADERS, SPEC_SECRET, tolerance=None, now=SPEC_NOW + 10**6)

    def test_default_clock(self):
        # The spec vector is years old: with the real clock it is stale.
        with self.assertRaises(herald.TimestampOutOfTolerance):
            herald.verify(SPEC_BODY, SPEC_HEADERS, SPEC_SECRET)
        self.assertGreater(time.time(), SPEC_NOW + 300)

    def test_wrong_format_names_it(self):
        with self.assertRaisesRegex(herald.WrongFormat, "looks like the standard format, and this verifier is for frugally"):
            herald.verify(SPEC_BODY, SPEC_HEADERS, "whsec_0123456789abcdef", "frugally")

    def test_not_an_object(self):
        body = b"[1,2]"
        sig = "sha256=" + __import__("hmac").new(b"whsec_0123456789abcdef", body, hashlib.sha256).hexdigest()
        with self.assertRaises(herald.InvalidPayload):
            herald.verify(body, {"X-Frugally-Signature": sig}, "whsec_0123456789abcdef", "frugally")

    def test_too_many_entries(self):
        headers = dict(SPEC_HEADERS)
        headers["webhook-signature"] = " ".join(["v1,bm9wZQ=="] * 17 + [SPEC_HEADERS["webhook-signature"]])
        with self.assertRaisesRegex(herald.SignatureMismatch, "17|18 entries"):
            herald.verify(SPEC_BODY, headers, SPEC_SECRET, now=SPEC_NOW)

    def test_no_secret(self):
        with self.assertRaisesRegex(herald.InvalidSecret, "no secret"):
            herald.verify(SPEC_BODY, SPEC_HEADERS, [], now=SPEC_NOW)


if __name__ == "__main__":
    unittest.main()
