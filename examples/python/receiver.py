#!/usr/bin/env python3
"""A Herald webhook receiver in Python 3, standard library only.

Herald signs every request it sends to your endpoint. This receiver checks that signature,
drops repeats of a delivery it has already handled, and prints one line per request:

    listening on 8000
    verified type=drift.detected key=del_01JD...     a new event: handle it
    duplicate type=drift.detected key=del_01JD...    seen before: answered 200, nothing done
    rejected status=401 reason=signature_mismatch    not from Herald (or the wrong secret)

Run it with your webhook's format and secret (shown once, when you created the webhook):

    python3 receiver.py --format standard --secret whsec_... --port 8000

or with WEBHOOK_FORMAT, WEBHOOK_SECRET and PORT in the environment. During a secret
rotation give both secrets (--secret OLD --secret NEW, or WEBHOOK_SECRET="OLD NEW").
Port 0 picks a free port; the line "listening on <port>" says which.

Put your own code in handle_event() below. Read ../README.md for why each step is there.
"""

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The format is chosen when the webhook is registered with Herald ("format" in
# POST /api/v1/webhooks): it decides the envelope, the signature headers and the dedupe key.
FORMATS = ("infraaudit", "frugally", "standard")

# The sha256= formats sign in a main header and, during a secret rotation, in a -Next header
# with the new secret. Header names are case-insensitive; self.headers.get() ignores case.
SHA256_HEADERS = {
    "infraaudit": ("X-InfraAudit-Signature", "X-InfraAudit-Signature-Next"),
    "frugally": ("X-Frugally-Signature", "X-Frugally-Signature-Next"),
}

# Standard Webhooks: refuse a webhook-timestamp more than 5 minutes from now, so a request
# captured on its way cannot be replayed later.
TIMESTAMP_TOLERANCE_SECONDS = 5 * 60

# Herald refuses events over 1 MiB; the envelope adds a few hundred bytes.
MAX_BODY_BYTES = 2 * 1024 * 1024

# Remember a dedupe key longer than Herald keeps retrying: the longest schedule (standard)
# ends about 28 hours after the first attempt, 33 with its jitter.
DEFAULT_DEDUPE_TTL_SECONDS = 48 * 60 * 60


def handle_event(event_type, key, envelope):
    """Your code: act on one verified, first-time event.

    Answer fast: Herald waits 10 s (15 s for standard) and then counts the attempt as
    failed and sends it again. Put slow work on a queue and return. Raising an exception
    answers 500, and Herald retries later.
    """
    # envelope["data"] is the event's payload, e.g. envelope["data"]["resource_name"].


class Rejected(Exception):
    """A request that is answered with status and not handled."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def hmac_keys(fmt, secrets):
    """The HMAC keys the secrets give in this format.

    infraaudit and frugally: the secret string's own bytes, whsec_ prefix included.
    standard: the bytes the base64 after whsec_ decodes to.
    """
    if fmt != "standard":
        return [s.encode("utf-8") for s in secrets]
    keys = []
    for s in secrets:
        try:
            keys.append(base64.b64decode(s.removeprefix("whsec_"), validate=True))
        except binascii.Error:
            raise ValueError("a standard secret is whsec_ followed by base64") from None
    return keys


def verify_sha256(fmt, keys, headers, body):
    """infraaudit and frugally: the header is "sha256=" + hex HMAC-SHA256 of the raw body."""
    received = [headers.get(name) for name in SHA256_HEADERS[fmt]]
    received = [value.encode("utf-8") for value in received if value]
    if not received:
        raise Rejected(401, "missing_signature")
    for key in keys:
        expected = b"sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest().encode()
        for value in received:
            # compare_digest takes as long whatever the first differing byte is, so the
            # answer's timing does not tell an attacker how much of a forgery was right.
            if hmac.compare_digest(expected, value):
                return
    raise Rejected(401, "signature_mismatch")


def verify_standard(keys, headers, body):
    """Standard Webhooks: webhook-signature holds space-separated "v1,<base64>" entries, each
    an HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>"; any one may match (during a
    rotation Herald signs with both secrets). Returns the webhook-id."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not signatures:
        raise Rejected(401, "missing_signature")
    if not msg_id or not re.fullmatch(r"[0-9]{1,15}", timestamp or ""):  # Unix seconds
        raise Rejected(401, "missing_header")
    if abs(time.time() - int(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS:
        raise Rejected(401, "timestamp_out_of_tolerance")
    signed = f"{msg_id}.{timestamp}.".encode("utf-8") + body
    for key in keys:
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
        for entry in signatures.split():
            version, _, signature = entry.partition(",")
            if version == "v1" and hmac.compare_digest(expected, signature.encode("utf-8")):
                return msg_id
            # "v1a," entries are ed25519 signatures, for asymmetric keys: not used here.
    raise Rejected(401, "signature_mismatch")


def parse_envelope(fmt, body, webhook_id):
    """The event type and the dedupe key of a verified body.

    The dedupe key is what stays the same when Herald sends a delivery again:
    infraaudit: delivery_id; frugally: id (the event id); standard: the webhook-id header
    (the event id).
    """
    try:
        envelope = json.loads(body)
    except ValueError:  # includes UnicodeDecodeError
        raise Rejected(400, "malformed_body") from None
    if not isinstance(envelope, dict):
        raise Rejected(400, "malformed_body")
    if fmt == "infraaudit":
        event_type, key = envelope.get("event"), envelope.get("delivery_id")
    elif fmt == "frugally":
        event_type, key = envelope.get("type"), envelope.get("id")
    else:
        event_type, key = envelope.get("type"), webhook_id
    if not isinstance(event_type, str) or not event_type or not isinstance(key, str) or not key:
        raise Rejected(400, "malformed_body")
    return event_type, key, envelope


class SeenKeys:
    """Dedupe keys handled, or being handled, in the last ttl seconds.

    In memory, so a restart forgets them and two processes do not share them. In
    production keep them where your side effects go: a table with a unique key, written in
    the same transaction as the work.
    """

    NEW, IN_PROGRESS, DONE = "new", "in_progress", "done"

    def __init__(self, ttl_seconds):
        self.ttl = ttl_seconds
        self.lock = threading.Lock()
        self.keys = {}  # key -> [time.monotonic() when it may be forgotten, done]
        self.next_sweep = 0.0

    def begin(self, key):
        """Records key as being handled and returns NEW, or says it is IN_PROGRESS or
        DONE already. Atomic: of two concurrent requests with one key, one gets NEW."""
        now = time.monotonic()
        with self.lock:
            if now >= self.next_sweep:  # drop expired keys now and then, not every time
                self.keys = {k: v for k, v in self.keys.items() if v[0] > now}
                self.next_sweep = now + 60
            entry = self.keys.get(key)
            if entry is not None and entry[0] > now:
                return self.DONE if entry[1] else self.IN_PROGRESS
            self.keys[key] = [now + self.ttl, False]
            return self.NEW

    def done(self, key):
        """Records that key was handled: its repeats are duplicates."""
        with self.lock:
            if key in self.keys:
                self.keys[key][1] = True

    def forget(self, key):
        """Forgets key, so that Herald's next attempt is handled again."""
        with self.lock:
            self.keys.pop(key, None)


def printable(value):
    """value with anything but printable ASCII replaced, so one request stays one line."""
    return re.sub(r"[^\x21-\x7e]", "?", value)


def log(line):
    print(line, flush=True)


class Receiver:
    """Verifies, dedupes and handles requests for one webhook."""

    def __init__(self, fmt, secrets, dedupe_ttl_seconds):
        self.format = fmt
        self.keys = hmac_keys(fmt, secrets)
        self.seen = SeenKeys(dedupe_ttl_seconds)

    def receive(self, headers, body):
        """Handles one request's headers and raw body; returns (status, response text)."""
        try:
            # 1. Verify the raw bytes, exactly as received, before anything else.
            webhook_id = None
            if self.format == "standard":
                webhook_id = verify_standard(self.keys, headers, body)
            else:
                verify_sha256(self.format, self.keys, headers, body)
            # 2. Only now trust and parse the body.
            event_type, key, envelope = parse_envelope(self.format, body, webhook_id)
        except Rejected as r:
            log(f"rejected status={r.status} reason={r.reason}")
            return r.status, r.reason

        line = f"type={printable(event_type)} key={printable(key)}"
        # 3. Handle each dedupe key once. Answer 200 to a repeat, so Herald stops sending
        # it; 409 to a repeat that arrives while the first is still being handled, so
        # Herald sends it again later, in case the first fails.
        state = self.seen.begin(key)
        if state == SeenKeys.DONE:
            log(f"duplicate {line}")
            return 200, "duplicate"
        if state == SeenKeys.IN_PROGRESS:
            log("rejected status=409 reason=in_progress")
            return 409, "in_progress"
        try:
            handle_event(event_type, key, envelope)
        except Exception:  # noqa: BLE001 - whatever failed, Herald should try again
            self.seen.forget(key)
            traceback.print_exc()
            log("failed status=500 reason=handler_error")
            return 500, "handler_error"
        self.seen.done(key)
        log(f"verified {line}")
        return 200, "ok"


class RequestHandler(BaseHTTPRequestHandler):
    """Reads the raw body and hands it to the server's Receiver."""

    def do_POST(self):
        length = self.headers.get("Content-Length")
        if length is None or not (length.isascii() and length.isdigit()):
            return self.answer(411, "length_required")
        if int(length) > MAX_BODY_BYTES:
            return self.answer(413, "body_too_large")
        body = self.rfile.read(int(length))  # bytes: never decode and re-encode before verifying
        status, text = self.server.receiver.receive(self.headers, body)
        self.reply(status, text)

    def do_GET(self):
        self.answer(405, "method_not_allowed")

    do_PUT = do_PATCH = do_DELETE = do_GET

    def answer(self, status, reason):
        log(f"rejected status={status} reason={reason}")
        self.reply(status, reason)

    def reply(self, status, text):
        data = text.encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # one line per request is printed by receive() instead of the access log


def main():
    parser = argparse.ArgumentParser(description="Verify and print Herald webhooks.")
    parser.add_argument("--format", choices=FORMATS, default=os.environ.get("WEBHOOK_FORMAT"),
                        help="the webhook's format (WEBHOOK_FORMAT)")
    parser.add_argument("--secret", action="append",
                        help="the webhook's secret; repeat during a rotation "
                             "(WEBHOOK_SECRET, several separated by spaces)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")),
                        help="port to listen on, 0 for any free one (PORT; default 8000)")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"),
                        help="address to listen on (HOST; default 127.0.0.1)")
    parser.add_argument("--dedupe-ttl", type=float, default=DEFAULT_DEDUPE_TTL_SECONDS,
                        help="seconds to remember a dedupe key (default 48 hours)")
    args = parser.parse_args()
    secrets = args.secret or os.environ.get("WEBHOOK_SECRET", "").split()
    if args.format not in FORMATS:
        parser.error("--format (or WEBHOOK_FORMAT) must be one of " + ", ".join(FORMATS))
    if not secrets:
        parser.error("--secret (or WEBHOOK_SECRET) is required")
    try:
        receiver = Receiver(args.format, secrets, args.dedupe_ttl)
    except ValueError as e:
        parser.error(str(e))

    server = ThreadingHTTPServer((args.host, args.port), RequestHandler)
    server.receiver = receiver
    log(f"listening on {server.server_address[1]}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
