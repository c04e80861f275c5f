"""herald.verify with the request objects of Flask, Django and Starlette (FastAPI), as
the README's examples use them. Each test runs where its framework is installed; the
package itself needs none of them."""

import base64
import hashlib
import hmac
import json
import time
import unittest

import herald

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = b'{"type":"drift.detected","timestamp":"2024-01-15T14:30:00Z","data":{"drift_id":55}}'


def signed_headers(body=BODY, secret=SECRET, ts=None):
    """The headers Herald sends a standard request with, signed now."""
    ts = int(time.time()) if ts is None else ts
    key = base64.b64decode(secret[len("whsec_"):])
    sig = base64.b64encode(hmac.new(key, b"msg_1.%d." % ts + body, hashlib.sha256).digest()).decode()
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return {
        "Content-Type": "application/json",
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": str(ts),
        "Webhook-Signature": "v1,bm9wZQ== v1," + sig,  # a rotation: an old entry first
        "Content-Digest": "sha-256=:%s:" % digest,
    }


def require(module):
    try:
        return __import__(module)
    except ImportError:
        raise unittest.SkipTest("%s is not installed: pip install %s to run this test" % (module, module)) from None


class FlaskTest(unittest.TestCase):
    def test_readme_example(self):
        flask = require("flask")
        app = flask.Flask(__name__)
        received = []

        @app.post("/webhooks/herald")
        def receive():
            try:
                event = herald.verify(flask.request.get_data(), flask.request.headers, SECRET, format="standard")
            except herald.VerificationError as e:
                return {"error": str(e), "reason": e.reason}, 401
            received.append(event)
            return "", 204

        client = app.test_client()
        self.assertEqual(client.post("/webhooks/herald", data=BODY, headers=signed_headers()).status_code, 204)
        self.assertEqual(received[0]["data"], {"drift_id": 55})

        changed = client.post("/webhooks/herald", data=BODY.replace(b"55", b"56"), headers=signed_headers())
        self.assertEqual((changed.status_code, changed.get_json()["reason"]), (401, "body_changed"))
        wrong = client.post("/webhooks/herald", data=BODY, headers=signed_headers(secret="whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tMDE="))
        self.assertEqual((wrong.status_code, wrong.get_json()["reason"]), (401, "wrong_secret"))
        stale = client.post("/webhooks/herald", data=BODY, headers=signed_headers(ts=int(time.time()) - 600))
        self.assertEqual((stale.status_code, stale.get_json()["reason"]), (401, "timestamp_out_of_tolerance"))


class DjangoTest(unittest.TestCase):
    def test_readme_example(self):
        require("django")
        from django.conf import settings

        if not settings.configured:
            settings.configure(ALLOWED_HOSTS=["*"], DEFAULT_CHARSET="utf-8")
        import django
        from django.http import HttpResponse, JsonResponse
        from django.test import RequestFactory

        django.setup()
        received = []

        def receive(request):
            try:
                event = herald.verify(request.body, request.headers, SECRET, format="standard")
            except herald.VerificationError as e:
                return JsonResponse({"error": str(e), "reason": e.reason}, status=401)
            received.append(event)
            return HttpResponse(status=204)

        def post(body, headers):
            extra = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items() if k != "Content-Type"}
            return receive(RequestFactory().post("/webhooks/herald", data=body, content_type="application/json", **extra))

        self.assertEqual(post(BODY, signed_headers()).status_code, 204)
        self.assertEqual(received[0]["data"], {"drift_id": 55})
        changed = post(BODY.replace(b"55", b"56"), signed_headers())
        self.assertEqual((changed.status_code, json.loads(changed.content)["reason"]), (401, "body_changed"))


class StarletteTest(unittest.TestCase):
    def test_readme_example(self):
        require("starlette")
        import asyncio

        from starlette.requests import Request

        def request(body, headers):
            scope = {
                "type": "http", "method": "POST", "path": "/webhooks/herald", "query_string": b"",
                "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            }
            sent = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive():
                return sent.pop(0)

            return Request(scope, receive)

        async def receive(req):
            try:
                return herald.verify(await req.body(), req.headers, SECRET, format="standard")
            except herald.VerificationError as e:
                return e.reason

        self.assertEqual(asyncio.run(receive(request(BODY, signed_headers())))["data"], {"drift_id": 55})
        self.assertEqual(asyncio.run(receive(request(BODY + b" ", signed_headers()))), "body_changed")


if __name__ == "__main__":
    unittest.main()
