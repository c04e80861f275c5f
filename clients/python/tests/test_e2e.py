"""The client against a real `herald serve`: webhooks in all three formats receive the
seed examples, every delivery verifies with herald.verify, and a changed body, a wrong
secret and a stale timestamp each fail with their own error."""

import glob
import http.server
import json
import os
import threading
import time
import unittest
import urllib.error
import urllib.request

import herald
from herald import Client, HeraldError

from .server import ADMIN_KEY, REPO, Receiver, Server

FORMATS = ("infraaudit", "frugally", "standard")


def seed_examples():
    """The data of every example of the two seed pages, by event type, read from the
    fixtures the catalog keeps verbatim. The access_request.approved example serves both
    access_request types, as the Frugally page does."""
    out = {}
    for path in glob.glob(os.path.join(REPO, "catalog", "testdata", "seeds", "*.json")):
        with open(path, encoding="utf-8") as f:
            out[os.path.basename(path)[: -len(".json")]] = json.load(f)
    out["access_request.denied"] = out["access_request.approved"]
    if len(out) != 25:
        raise AssertionError("%d seed event types, want 25" % len(out))
    return out


def event_type(fmt, envelope):
    return envelope["event"] if fmt == "infraaudit" else envelope["type"]


class EndToEndTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.addClassCleanup(cls.server.stop)
        cls.receiver = Receiver()
        cls.addClassCleanup(cls.receiver.stop)
        cls.client = Client(cls.server.url, ADMIN_KEY)

    def test_seed_events_delivered_and_verified(self):
        c = self.client
        seeds = seed_examples()
        tenant = c.tenants.create(id="team_py", name="Python client tests")
        self.assertTrue(tenant["api_key"])

        # 1. Webhooks in all three formats, and a standard one signed with ed25519.
        hooks = {}
        for name in FORMATS + ("ed25519",):
            fmt = "standard" if name == "ed25519" else name
            extra = {"signing": "ed25519"} if name == "ed25519" else {}
            wh = c.webhooks.create(name=name + " receiver", url=self.receiver.url + "/" + name, events=["*"], format=fmt, tenant_id="team_py", **extra)
            self.assertEqual(wh["format"], fmt)
            key = wh.get("public_key") if name == "ed25519" else wh.get("secret")
            self.assertTrue(key, "%s webhook created without its key: %s" % (name, wh))
            hooks[name] = (fmt, key, wh)
        self.assertTrue(hooks["ed25519"][1].startswith("whpk_"))

        # 2. Publish the seed examples: most one by one, the rest in a batch.
        types = sorted(seeds)
        ids = {}
        for typ in types[:20]:
            res = c.events.publish(type=typ, data=seeds[typ], tenant_id="team_py", timestamp="2024-01-15T14:30:00Z")
            self.assertEqual(res["deliveries"], 4, typ)
            ids[typ] = res["id"]
        results = c.events.publish_batch([{"type": typ, "data": seeds[typ], "tenant_id": "team_py"} for typ in types[20:]])
        self.assertEqual([r["status"] for r in results], [202] * 5, results)
        for typ, r in zip(types[20:], results):
            self.assertEqual(r["deliveries"], 4)
            ids[typ] = r["id"]

        # 3. Every delivery verifies, in its format's envelope, with the example's data.
        for name, (fmt, key, wh) in hooks.items():
            got = self.receiver.wait_for("/" + name, len(seeds) + 1)  # the creation ping, then the seeds
            seen = {}
            for req in got:
                envelope = herald.verify(req.body, req.headers, key, fmt)
                typ = event_type(fmt, envelope)
                if typ == "ping" and wh["id"] in json.dumps(envelope["data"]):
                    continue  # the creation ping: its data names this webhook
                self.assertEqual(envelope["data"], seeds[typ], "%s %s" % (name, typ))
                seen[typ] = req
            self.assertEqual(sorted(seen), types, name)
            if fmt == "standard":
                self.assertEqual({seen[t].headers["webhook-id"] for t in types}, set(ids.values()))
                self.assertTrue(all(r.headers["webhook-signature"].startswith("v1a," if name == "ed25519" else "v1,") for r in got))

            # 4. A changed body, a wrong secret and a stale timestamp each fail with
            # their own error, on a real delivery.
            req = seen["drift.detected"]
            changed = req.body.replace(b'"severity":"critical"', b'"severity":"low"')
            self.assertNotEqual(changed, req.body)
            with self.assertRaises(herald.BodyChanged, msg=name):
                herald.verify(changed, req.headers, key, fmt)
            with self.assertRaises(herald.WrongSecret, msg=name):
                herald.verify(req.body, req.headers, self.other_key(name), fmt)
            if fmt == "standard":
                sent = int(req.headers["webhook-timestamp"])
                herald.verify(req.body, req.headers, key, fmt, now=sent + 299)
                with self.assertRaises(herald.TimestampOutOfTolerance, msg=name):
                    herald.verify(req.body, req.headers, key, fmt, now=sent + 301)
            with self.assertRaises(herald.WrongFormat, msg=name):
                herald.verify(req.body, req.headers, key if fmt != "standard" else "whsec_0123456789abcdef", "frugally" if fmt == "standard" else "standard")

        # The published events are there, with their deliveries.
        ev = c.events.get(ids["drift.detected"])
        self.assertEqual(ev["type"], "drift.detected")
        self.assertEqual(len(ev["deliveries"]), 4)

    def other_key(self, name):
        """A well-formed key of the kind name's webhook uses, that is not its."""
        if name == "ed25519":
            return "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
        if name == "standard":
            return "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        return "whsec_not-the-webhooks-secret"

    def test_rotation(self):
        # During a rotation's grace Herald signs with the old and the new secret: a
        # receiver that knows either verifies.
        c = self.client
        for fmt in FORMATS:
            path = "/rotate-" + fmt
            wh = c.webhooks.create(name="rotation " + fmt, url=self.receiver.url + path, events=["ping"], format=fmt)
            old = wh["secret"]
            self.receiver.wait_for(path, 1)
            new = c.webhooks.rotate_secret(wh["id"], grace_period_seconds=3600)["secret"]
            self.assertNotEqual(new, old)
            revealed = c.webhooks.reveal_secret(wh["id"])
            self.assertEqual((revealed["secret"], revealed["previous_secret"]), (new, old))
            result = c.webhooks.test(wh["id"])
            self.assertTrue(result["success"], result)
            req = self.receiver.wait_for(path, 2)[1]
            if fmt == "standard":
                self.assertEqual(len(req.headers["webhook-signature"].split()), 2, req.headers["webhook-signature"])
            else:
                self.assertIn("-Next", " ".join(req.headers.keys()))
            for secrets in ([old], [new], [old, new]):
                self.assertEqual(herald.verify(req.body, req.headers, secrets, fmt)["data"]["webhook_id"] if fmt != "standard" else event_type(fmt, herald.verify(req.body, req.headers, secrets, fmt)),
                                 wh["id"] if fmt != "standard" else "ping")
            c.webhooks.delete(wh["id"])

    def test_manage(self):
        c = self.client
        wh = c.webhooks.create(name="managed", url=self.receiver.url + "/managed", events=["drift.detected"], format="frugally")
        self.receiver.wait_for("/managed", 1)
        self.assertEqual(c.webhooks.get(wh["id"])["name"], "managed")
        self.assertNotIn("secret", c.webhooks.get(wh["id"]))
        updated = c.webhooks.update(wh["id"], description="changed by the Python client", events=["drift.detected", "drift.resolved"])
        self.assertEqual(updated["description"], "changed by the Python client")
        self.assertEqual(sorted(updated["events"]), ["drift.detected", "drift.resolved"])

        more = [c.webhooks.create(name="page %d" % i, url=self.receiver.url + "/pages", events=["drift.resolved"]) for i in range(4)]
        page = c.webhooks.list(per_page=2)
        self.assertEqual(len(page), 2)
        self.assertGreaterEqual(page.total, 5)
        every = [w["id"] for w in c.webhooks.iter(per_page=2)]
        self.assertEqual(len(every), page.total)
        self.assertEqual(len(set(every)), len(every))
        self.assertTrue({wh["id"]} | {m["id"] for m in more} <= set(every))
        for m in more:
            c.webhooks.delete(m["id"])

        deliveries = c.webhooks.deliveries(wh["id"])
        self.assertEqual(len(deliveries), 1)  # the creation ping
        d = c.deliveries.get(deliveries[0]["id"])
        self.assertEqual(d["webhook_id"], wh["id"])
        retried = c.deliveries.retry(d["id"])
        self.assertEqual(retried["id"], d["id"])
        self.receiver.wait_for("/managed", 2)
        # The attempt is recorded a moment after the receiver answers.
        deadline = time.monotonic() + 30
        while len(c.deliveries.attempts(d["id"])) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(len(c.deliveries.attempts(d["id"])), 2)
        self.assertIn(d["id"], [x["id"] for x in c.deliveries.list(webhook_id=wh["id"])])
        # Deliveries page by their next link.
        for _ in range(2):
            c.events.publish(type="drift.resolved", data={"drift_id": 9, "resolved_by": 1, "resolved_at": "2024-01-15T15:00:00Z"})
        first = c.deliveries.list(per_page=1)
        self.assertTrue(first.next_url, "no next link on a page of 1 of %s deliveries" % first.total)
        self.assertEqual(len([x["id"] for x in c.deliveries.iter(per_page=1)]), first.total)

        added = c.event_types.create(type="python.order_placed", description="An order was placed",
                                      schema={"type": "object", "properties": {"order_id": {"type": "string"}},
                                              "required": ["order_id"]},
                                      sample={"order_id": "o_1"})
        self.assertEqual(added["type"], "python.order_placed", added)
        types = c.event_types.list()
        self.assertIn("drift.detected", [t.get("type", t.get("name")) for t in types])
        self.assertIn("python.order_placed", [t.get("type", t.get("name")) for t in types])

        tenant = c.tenants.create(name="Managed tenant")
        self.assertEqual(c.tenants.get(tenant["id"])["name"], "Managed tenant")
        as_tenant = Client(self.server.url, tenant["api_key"])
        self.assertEqual(len(as_tenant.webhooks.list()), 0)
        rotated = c.tenants.rotate_key(tenant["id"])
        with self.assertRaises(HeraldError) as caught:
            as_tenant.webhooks.list()
        self.assertEqual((caught.exception.status, caught.exception.code), (401, "UNAUTHORIZED"))
        self.assertEqual(len(Client(self.server.url, rotated["api_key"]).webhooks.list()), 0)
        link = c.tenants.portal_link(tenant["id"], ttl="5m")
        self.assertTrue(link["url"].startswith(self.server.url), link)

        c.webhooks.delete(wh["id"])
        with self.assertRaises(HeraldError) as caught:
            c.webhooks.get(wh["id"])
        self.assertEqual((caught.exception.status, caught.exception.code), (404, "NOT_FOUND"))
        self.assertIn(wh["id"], caught.exception.message)

    def require_route(self, method, path):
        """Skip unless the server's OpenAPI document has the route: the replay and skip
        endpoints arrive in the same release as this client, on another branch."""
        with urllib.request.urlopen(self.server.url + "/openapi.json", timeout=30) as resp:
            paths = json.load(resp)["paths"]
        if method.lower() not in paths.get(path, {}):
            self.skipTest("this herald has no %s %s yet" % (method, path))

    def test_replay(self):
        self.require_route("POST", "/api/v1/webhooks/{id}/replay")
        c = self.client
        # A channel of its own: the other tests publish drift.resolved events to this
        # server too, and a replay takes every stored event the webhook matches.
        wh = c.webhooks.create(name="replayed", url=self.receiver.url + "/replayed", events=["drift.resolved"],
                               format="standard", channels=["python-replay"])
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
        data = {"drift_id": 7, "resolved_by": 1, "resolved_at": "2024-01-15T15:00:00Z"}
        ids = {c.events.publish(type="drift.resolved", data=data, channels=["python-replay"])["id"] for _ in range(2)}
        self.receiver.wait_for("/replayed", 3)  # the ping and the two events
        res = c.webhooks.replay(wh["id"], since=since, types=["drift.resolved"])
        self.assertEqual(res["replayed"], 2, res)
        again = self.receiver.wait_for("/replayed", 5)[3:]
        self.assertEqual({r.headers["webhook-id"] for r in again}, ids)
        for r in again:
            self.assertEqual(herald.verify(r.body, r.headers, wh["secret"])["data"], data)

    def test_skip(self):
        self.require_route("POST", "/api/v1/deliveries/{id}/skip")
        c = self.client
        wh = c.webhooks.create(name="unreachable", url="http://127.0.0.1:9/never", events=["drift.resolved"], format="infraaudit")
        ev = c.events.publish(type="drift.resolved", data={"drift_id": 8, "resolved_by": 1, "resolved_at": "2024-01-15T15:00:00Z"})
        delivery = c.webhooks.deliveries(wh["id"], event_id=ev["id"])[0]
        skipped = c.deliveries.skip(delivery["id"])
        self.assertEqual(skipped["id"], delivery["id"])
        self.assertNotEqual(skipped["status"], "pending", skipped)

    def test_errors(self):
        c = self.client
        with self.assertRaises(HeraldError) as caught:
            c.webhooks.create(name="bad", url="ftp://example.com/x", format="standard")
        e = caught.exception
        self.assertEqual((e.status, e.code), (422, "VALIDATION_FAILED"))
        self.assertTrue(e.message)
        self.assertTrue(e.field_errors, "no field errors in %r" % e)

        with self.assertRaises(HeraldError) as caught:
            c.events.publish(type="drift.detected", data={"drift_id": "not a number"})
        self.assertEqual(caught.exception.status, 422)
        self.assertIn("drift_id", str(caught.exception))

        with self.assertRaises(HeraldError) as caught:
            Client(self.server.url, "hk_wrong").webhooks.list()
        self.assertEqual(caught.exception.status, 401)
        self.assertNotIn("hk_wrong", str(caught.exception))
        self.assertNotIn("hk_wrong", repr(caught.exception))
        self.assertNotIn(ADMIN_KEY, repr(c))

        # A redirect is an error, not followed: it would carry the API key elsewhere.
        target = Receiver()
        self.addCleanup(target.stop)

        class Redirect(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(307)
                self.send_header("Location", target.url + "/stolen")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        redirector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        self.addCleanup(redirector.server_close)
        threading.Thread(target=redirector.serve_forever, daemon=True).start()
        self.addCleanup(redirector.shutdown)
        with self.assertRaises(HeraldError) as caught:
            Client("http://127.0.0.1:%d" % redirector.server_address[1], ADMIN_KEY).webhooks.list()
        self.assertEqual(caught.exception.status, 307)
        self.assertEqual(target.requests, {})

        unreachable = Client("http://127.0.0.1:9", ADMIN_KEY, max_retries=1, backoff=0.01)
        with self.assertRaises(HeraldError) as caught:
            unreachable.webhooks.list()
        self.assertEqual((caught.exception.status, caught.exception.code), (0, "NETWORK"))


class RateLimitTest(unittest.TestCase):
    """Against a server that allows the admin 1 request per second (bursts of 2): the
    client waits the 429's Retry-After and every publish lands exactly once."""

    def test_publish_through_429(self):
        server = Server("--admin-rate-limit", "1")
        self.addCleanup(server.stop)
        c = Client(server.url, ADMIN_KEY, max_retries=10)
        start = time.monotonic()
        ids = [c.events.publish(type="ping", data={"webhook_id": "wh_x", "message": "n%d" % i})["id"] for i in range(5)]
        elapsed = time.monotonic() - start
        self.assertEqual(len(set(ids)), 5)
        # Two go through on the burst; each of the other three waits for a token.
        self.assertGreater(elapsed, 1.5, "5 publishes at 1/s took %.2fs: no 429 was met" % elapsed)
        no_retry = Client(server.url, ADMIN_KEY, max_retries=0)
        with self.assertRaises(HeraldError) as caught:
            for _ in range(5):
                no_retry.events.get(ids[0])
        self.assertEqual((caught.exception.status, caught.exception.code), (429, "RATE_LIMITED"))
        self.assertIsNotNone(caught.exception.retry_after)


class LostAnswerProxy:
    """A proxy in front of a real server that loses the server's answer to the first
    request of each path in lose: it forwards the request, so the server does the work,
    then answers 503 with Retry-After: 0 in its place. It records every request's
    Idempotency-Key and every answer it lost."""

    def __init__(self, upstream, lose, forward_lost=True):
        self.keys = []
        self.lost = []
        pending = set(lose)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.forward()

            def do_GET(self):
                self.forward()

            def forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if self.command == "POST" else None
                proxy.keys.append((self.path, self.headers.get("Idempotency-Key")))
                lose_it = self.path in pending
                pending.discard(self.path)
                if lose_it and not forward_lost:
                    proxy.lost.append((self.path, None))
                    return self.answer(503, {"Retry-After": "0"}, b'{"error":"try again","code":"UNAVAILABLE","details":""}')
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                req = urllib.request.Request(upstream + self.path, data=body, method=self.command, headers=headers)
                try:
                    with urllib.request.urlopen(req, timeout=30) as resp:
                        status, answer = resp.status, resp.read()
                except urllib.error.HTTPError as e:
                    status, answer = e.code, e.read()
                if lose_it:
                    proxy.lost.append((self.path, json.loads(answer)))
                    return self.answer(503, {"Retry-After": "0"}, b'{"error":"try again","code":"UNAVAILABLE","details":""}')
                self.answer(status, {"Content-Type": "application/json"}, answer)

            def answer(self, status, headers, body):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class SafeRetryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.addClassCleanup(cls.server.stop)

    def proxy(self, lose, forward_lost=True):
        p = LostAnswerProxy(self.server.url, lose, forward_lost)
        self.addCleanup(p.stop)
        return p

    def test_publish_retried_with_the_same_idempotency_key(self):
        # The server stored the event but its answer was lost: the retry, with the same
        # Idempotency-Key, gets the first result back and stores nothing more.
        p = self.proxy({"/api/v1/events"})
        c = Client(p.url, ADMIN_KEY)
        res = c.events.publish(type="ping", data={"webhook_id": "wh_x", "message": "lost answer"})
        self.assertEqual(len(p.lost), 1)
        first = p.lost[0][1]
        self.assertEqual(res["id"], first["id"], "the retry stored a second event")
        keys = [k for path, k in p.keys if path == "/api/v1/events"]
        self.assertEqual(len(keys), 2)
        self.assertTrue(keys[0])
        self.assertEqual(keys[0], keys[1], "the retry sent another Idempotency-Key")
        # Another call is another publish, with another key.
        again = c.events.publish(type="ping", data={"webhook_id": "wh_x", "message": "lost answer"})
        self.assertNotEqual(again["id"], res["id"])
        self.assertNotEqual([k for path, k in p.keys if path == "/api/v1/events"][2], keys[0])

    def test_create_not_retried_after_503(self):
        # Creating a webhook twice would make two: a 503 is raised, not retried.
        p = self.proxy({"/api/v1/webhooks"}, forward_lost=False)
        c = Client(p.url, ADMIN_KEY)
        with self.assertRaises(HeraldError) as caught:
            c.webhooks.create(name="once", url="http://127.0.0.1:9/x", format="standard")
        self.assertEqual((caught.exception.status, caught.exception.code), (503, "UNAVAILABLE"))
        self.assertEqual([path for path, _ in p.keys], ["/api/v1/webhooks"])

    def test_get_retried_after_503(self):
        p = self.proxy({"/api/v1/webhooks"}, forward_lost=False)
        page = Client(p.url, ADMIN_KEY).webhooks.list()
        self.assertIsInstance(page, herald.Page)
        self.assertEqual([path for path, _ in p.keys], ["/api/v1/webhooks", "/api/v1/webhooks"])


if __name__ == "__main__":
    unittest.main()
