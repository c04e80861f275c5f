// The client against a real `herald serve` and real receivers: webhooks in all three
// formats, every seed example published, every delivery verified with Webhook.verify,
// and a changed body, a wrong secret and a stale timestamp each refused for its own
// reason. Then the producing side: errors, idempotency, paging, retries on 429.
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { inspect } from "node:util";
import { after, before, describe, test } from "node:test";

import {
  BodyChangedError,
  Herald,
  HeraldError,
  StaleTimestampError,
  Webhook,
  WrongSecretError,
  type CreatedWebhook,
  type Format,
} from "../src/index.js";
import { adminKey, repoRoot, startHerald, type HeraldServer } from "./server.js";

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A receiver: a Node http server that keeps every request and answers 200. */
class Receiver {
  readonly requests: Received[] = [];
  #server: Server;
  url = "";
  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.requests.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(200).end("ok");
      });
    });
  }
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    const addr = this.#server.address();
    if (!addr || typeof addr === "string") throw new Error("no address");
    this.url = `http://127.0.0.1:${addr.port}/hooks`;
    return this;
  }
  /** waitFor resolves once n requests arrived, or fails after timeoutMs. */
  async waitFor(n: number, timeoutMs = 60_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < n) {
      if (Date.now() > deadline) throw new Error(`${this.requests.length} requests arrived in ${timeoutMs} ms, want ${n}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.requests.slice(0, n);
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** seedExamples reads the example payload of every event type of the two seed pages. */
function seedExamples(): Map<string, unknown> {
  const dir = join(repoRoot(), "catalog", "testdata", "seeds");
  const out = new Map<string, unknown>();
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
    out.set(f.replace(/\.json$/, ""), JSON.parse(readFileSync(join(dir, f), "utf8")));
  }
  out.set("access_request.denied", out.get("access_request.approved")); // as the Frugally page does
  assert.equal(out.size, 25, "seed event types");
  return out;
}

/** typeOf returns the event type an envelope of format carries. */
function typeOf(format: Format, env: Record<string, unknown>): string {
  return (format === "infraaudit" ? env.event : env.type) as string;
}

let server: HeraldServer;
let h: Herald;
const receivers = new Map<string, Receiver>();
const hooks = new Map<string, CreatedWebhook>();
// The three formats, and the standard format signed with ed25519.
const kinds = [
  { name: "infraaudit", format: "infraaudit" as const },
  { name: "frugally", format: "frugally" as const },
  { name: "standard", format: "standard" as const },
  { name: "standard-ed25519", format: "standard" as const, signing: "ed25519" as const },
];

before(async () => {
  server = await startHerald();
  h = new Herald({ baseUrl: server.url, apiKey: adminKey });
});

after(async () => {
  for (const r of receivers.values()) await r.close();
  await server?.stop();
});

describe("receiving: every seed example, in every format, verified", () => {
  const seeds = seedExamples();
  const secretOf = (name: string) => {
    const wh = hooks.get(name)!;
    return name === "standard-ed25519" ? wh.public_key! : wh.secret!;
  };

  test("create a tenant and webhooks in all three formats", async () => {
    const tenant = await h.tenants.create({ id: "team_xyz", name: "XYZ" });
    assert.equal(tenant.id, "team_xyz");
    assert.match(tenant.api_key ?? "", /^hk_/);
    for (const k of kinds) {
      const r = await new Receiver().start();
      receivers.set(k.name, r);
      const wh = await h.webhooks.create({
        name: `${k.name} receiver`, url: r.url, events: ["*"], format: k.format, tenant_id: "team_xyz",
        ...(k.signing ? { signing: k.signing } : {}),
      });
      assert.equal(wh.format, k.format);
      if (k.signing) assert.match(wh.public_key ?? "", /^whpk_/);
      else assert.match(wh.secret ?? "", /^whsec_/);
      hooks.set(k.name, wh);
    }
  });

  test("publish every seed example", async () => {
    for (const [type, data] of seeds) {
      const res = await h.events.publish({ type, data, tenant_id: "team_xyz", timestamp: "2024-01-15T14:30:00Z" });
      assert.match(res.id, /^evt_/);
      assert.equal(res.deliveries, kinds.length, `${type}: deliveries`);
    }
  });

  test("every delivery verifies, and carries the seed example", async () => {
    for (const k of kinds) {
      // The creation ping, then one request per seed type.
      const got = await receivers.get(k.name)!.waitFor(seeds.size + 1);
      const wh = new Webhook(secretOf(k.name), { format: k.format });
      const seen = new Set<string>();
      for (const req of got) {
        const env = (await wh.verify(req.body, req.headers)) as unknown as Record<string, unknown>;
        const type = typeOf(k.format, env);
        if (type === "ping" && JSON.stringify(env.data).includes(hooks.get(k.name)!.id)) continue; // the creation ping
        assert.deepEqual(env.data, seeds.get(type), `${k.name} ${type}: data`);
        if (k.format === "frugally") assert.equal(env.team_id, "team_xyz");
        if (k.format === "infraaudit") assert.equal(env.webhook_id, hooks.get(k.name)!.id);
        if (k.signing) assert.match(String(req.headers["webhook-signature"]), /^v1a,/);
        seen.add(type);
      }
      assert.equal(seen.size, seeds.size, `${k.name}: distinct seed types verified`);
    }
  });

  test("a changed body, a wrong secret and a stale timestamp each fail with their own error", async () => {
    for (const k of kinds) {
      const req = receivers.get(k.name)!.requests.at(-1)!;
      const body = req.body.toString();
      const changed = body.replace(/"data":\{/, '"data":{"injected":true,');
      assert.notEqual(changed, body);
      const wh = new Webhook(secretOf(k.name), { format: k.format });
      await assert.rejects(wh.verify(changed, req.headers), BodyChangedError, `${k.name}: changed body`);

      const wrong = k.signing
        ? "whpk_" + btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
        : k.format === "standard"
          ? "whsec_" + btoa("a wrong secret of 32 bytes!!!!!!")
          : "whsec_a-wrong-secret-for-this-hook";
      const err = await new Webhook(wrong, { format: k.format }).verify(body, req.headers).catch((e: unknown) => e);
      assert.ok(err instanceof WrongSecretError, `${k.name}: wrong secret gave ${err}`);
      assert.ok(!(err as Error).message.includes(wrong));

      if (k.format === "standard") {
        // Ten minutes later, past the 5-minute tolerance; and ten minutes early.
        const ts = Number(req.headers["webhook-timestamp"]) * 1000;
        for (const now of [ts + 600_000, ts - 600_000]) {
          const late = new Webhook(secretOf(k.name), { format: k.format, now: () => now });
          await assert.rejects(late.verify(body, req.headers), StaleTimestampError, `${k.name}: stale timestamp`);
        }
        // Within the tolerance it passes.
        await new Webhook(secretOf(k.name), { format: k.format, now: () => ts + 240_000 }).verify(body, req.headers);
      }
    }
  });

  test("during a rotation both the old and the new secret verify", async () => {
    for (const name of ["standard", "infraaudit"]) {
      const old = hooks.get(name)!;
      const rotated = await h.webhooks.rotateSecret(old.id, { grace_period_seconds: 3600 });
      assert.ok(rotated.secret && rotated.secret !== old.secret);
      const receiver = receivers.get(name)!;
      const before = receiver.requests.length;
      const result = await h.webhooks.test(old.id);
      assert.equal(result.success, true, `${name} test: ${result.error}`);
      const [req] = (await receiver.waitFor(before + 1)).slice(before);
      const format = old.format as Format;
      if (format === "standard") {
        assert.equal(String(req!.headers["webhook-signature"]).split(" ").length, 2, "two v1 entries");
      } else {
        assert.ok(req!.headers["x-infraaudit-signature-next"], "the -Next header");
      }
      await new Webhook(rotated.secret, { format }).verify(req!.body, req!.headers);
      await new Webhook(old.secret!, { format }).verify(req!.body, req!.headers);
      await new Webhook([old.secret!, rotated.secret], { format }).verify(req!.body, req!.headers);
      const revealed = await h.webhooks.revealSecret(old.id);
      assert.equal(revealed.secret, rotated.secret);
      assert.equal(revealed.previous_secret, old.secret);
    }
  });
});

describe("producing", () => {
  test("errors carry the API's error body", async () => {
    const err = await h.webhooks.create({ name: "bad", url: "ftp://example.com", format: "standard" }).catch((e: unknown) => e);
    assert.ok(err instanceof HeraldError, String(err));
    assert.equal(err.status, 422);
    assert.equal(err.code, "VALIDATION_FAILED");
    assert.equal(err.details, "url");
    assert.match(err.message, /url must be an absolute http or https URL/);
    assert.equal(err.request, "POST /api/v1/webhooks");

    const missing = await h.webhooks.get("wh_doesnotexist").catch((e: unknown) => e);
    assert.ok(missing instanceof HeraldError && missing.status === 404 && missing.code === "NOT_FOUND", String(missing));

    const bad = new Herald({ baseUrl: server.url, apiKey: "hk_admin_not-the-key-at-all-000" });
    const unauth = await bad.events.publish({ type: "ping", data: {} }).catch((e: unknown) => e);
    assert.ok(unauth instanceof HeraldError && unauth.status === 401 && unauth.code === "UNAUTHORIZED", String(unauth));

    assert.ok(!inspect(h, { depth: 10, showHidden: true }).includes(adminKey), "the client shows its API key");
    assert.ok(!inspect(unauth).includes("hk_admin_not-the-key"), "the error shows the API key");

    // A redirect is an error, not followed: it would carry the API key elsewhere.
    const target = await new Receiver().start();
    receivers.set("redirect-target", target);
    const redirector = createServer((_req, res) => res.writeHead(307, { Location: target.url }).end());
    await new Promise<void>((resolve) => redirector.listen(0, "127.0.0.1", resolve));
    const port = (redirector.address() as { port: number }).port;
    const redirected = await new Herald({ baseUrl: `http://127.0.0.1:${port}`, apiKey: adminKey }).webhooks.list().catch((e: unknown) => e);
    redirector.close();
    assert.ok(redirected instanceof HeraldError && redirected.status === 307 && redirected.code === "REDIRECT", String(redirected));
    assert.equal(target.requests.length, 0, "the redirect was followed");

    assert.throws(() => new Herald({ baseUrl: "localhost:8080", apiKey: adminKey }), /baseUrl/);
    assert.throws(() => new Herald({ baseUrl: server.url, apiKey: "" }), /apiKey/);
  });

  test("a repeated Idempotency-Key returns the first event", async () => {
    const data = seedExamples().get("drift.detected");
    const a = await h.events.publish({ type: "drift.detected", data, tenant_id: "team_xyz" }, { idempotencyKey: "ts-client-test-1" });
    const b = await h.events.publish({ type: "drift.detected", data, tenant_id: "team_xyz" }, { idempotencyKey: "ts-client-test-1" });
    assert.equal(b.id, a.id);
    const c = await h.events.publish({ type: "drift.detected", data, tenant_id: "team_xyz" });
    assert.notEqual(c.id, a.id);
    const ev = await h.events.get(a.id);
    assert.equal(ev.type, "drift.detected");
    assert.equal(ev.deliveries.length, kinds.length);
  });

  test("a batch publishes every event once, even when sent twice", async () => {
    const seeds = seedExamples();
    const events = ["alert.created", "job.completed", "cost.anomaly"].map((type) => ({ type, data: seeds.get(type), tenant_id: "team_xyz" }));
    const results = await h.events.publishBatch(events);
    assert.deepEqual(results.map((r) => r.status), [202, 202, 202]);
    for (const r of results) assert.match(r.id ?? "", /^evt_[0-9A-Z]{26}$/);
    // The same events with the ids the first call gave them: repeats, stored once.
    const again = await h.events.publishBatch(events.map((e, i) => ({ ...e, id: results[i]!.id! })));
    assert.deepEqual(again.map((r) => r.status), [200, 200, 200]);
  });

  test("deliveries, attempts, event types, tenants, portal links", async () => {
    const wh = hooks.get("frugally")!;
    const page = await h.webhooks.deliveries(wh.id, { per_page: 2 });
    assert.equal(page.items.length, 2);
    assert.ok((page.total ?? 0) > 2, `total ${page.total}`);
    const second = await page.next();
    assert.ok(second && second.items.length === 2 && second.items[0]!.id !== page.items[0]!.id);

    let n = 0;
    for await (const d of h.deliveries.all({ webhook_id: wh.id, per_page: 10 })) {
      assert.equal(d.webhook_id, wh.id);
      n++;
    }
    assert.equal(n, page.total);

    const d = await h.deliveries.get(page.items[0]!.id);
    assert.equal(d.id, page.items[0]!.id);
    // The newest delivery may be from the batch just published: its attempt is
    // recorded a moment after its receiver answers.
    const deadline = Date.now() + 30_000;
    let attempts = await h.deliveries.attempts(d.id);
    while (attempts.items.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      attempts = await h.deliveries.attempts(d.id);
    }
    assert.ok(attempts.items.length >= 1, `no attempt of ${d.id} recorded in 30 s`);
    const retried = await h.deliveries.retry(d.id);
    assert.equal(retried.id, d.id);

    const types = await h.eventTypes.list();
    assert.ok(types.some((t) => t.type === "drift.detected"), "catalog has drift.detected");

    const tenants = await h.tenants.list();
    assert.ok(tenants.some((t) => t.id === "team_xyz"));
    const link = await h.portalLinks.create("team_xyz", { ttl: "5m" });
    assert.match(link.url, /^http:\/\/127\.0\.0\.1:\d+\//);
    const link2 = await h.tenants.portalLink("team_xyz");
    assert.notEqual(link2.url, link.url);

    const hooksPage = await h.webhooks.list({ tenant_id: "team_xyz" });
    assert.equal(hooksPage.items.length, kinds.length);
    const updated = await h.webhooks.update(wh.id, { description: "updated by the TypeScript client" });
    assert.equal(updated.description, "updated by the TypeScript client");
    const extra = await h.webhooks.create({ name: "to delete", url: receivers.get("frugally")!.url, format: "frugally", tenant_id: "team_xyz" });
    await h.webhooks.delete(extra.id);
    await assert.rejects(h.webhooks.get(extra.id), (e: unknown) => e instanceof HeraldError && e.status === 404);
  });
});

describe("this round's routes", () => {
  /** hasRoute reports whether the server's OpenAPI document has method path. */
  async function hasRoute(method: string, path: string): Promise<boolean> {
    const doc = (await (await fetch(server.url + "/openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
    return method.toLowerCase() in (doc.paths[path] ?? {});
  }

  test("replay sends a webhook past events again", async (t) => {
    if (!(await hasRoute("POST", "/api/v1/webhooks/{id}/replay"))) return t.skip("this herald has no POST /api/v1/webhooks/{id}/replay yet");
    const r = await new Receiver().start();
    receivers.set("replayed", r);
    const wh = await h.webhooks.create({ name: "replayed", url: r.url, events: ["drift.resolved"], format: "standard" });
    const since = new Date(Date.now() - 5000).toISOString().replace(/\.\d+Z$/, "Z");
    const data = { drift_id: 7, resolved_by: 1, resolved_at: "2024-01-15T15:00:00Z" };
    const ids = new Set<string>();
    for (let i = 0; i < 2; i++) ids.add((await h.events.publish({ type: "drift.resolved", data })).id);
    await r.waitFor(3); // the ping and the two events
    const res = await h.webhooks.replay(wh.id, { since, types: ["drift.resolved"] });
    assert.equal(res.replayed, 2, JSON.stringify(res));
    const again = (await r.waitFor(5)).slice(3);
    assert.deepEqual(new Set(again.map((q) => String(q.headers["webhook-id"]))), ids);
    for (const q of again) assert.deepEqual((await new Webhook(wh.secret!).verify(q.body, q.headers)).data, data);
  });

  test("skip gives up on a pending delivery", async (t) => {
    if (!(await hasRoute("POST", "/api/v1/deliveries/{id}/skip"))) return t.skip("this herald has no POST /api/v1/deliveries/{id}/skip yet");
    const wh = await h.webhooks.create({ name: "unreachable", url: "http://127.0.0.1:9/never", events: ["drift.resolved"], format: "infraaudit" });
    const ev = await h.events.publish({ type: "drift.resolved", data: { drift_id: 8, resolved_by: 1, resolved_at: "2024-01-15T15:00:00Z" } });
    const [delivery] = (await h.webhooks.deliveries(wh.id, { event_id: ev.id })).items;
    const skipped = await h.deliveries.skip(delivery!.id);
    assert.equal(skipped.id, delivery!.id);
    assert.notEqual(skipped.status, "pending");
  });
});

describe("retries", () => {
  let limited: HeraldServer;
  before(async () => {
    limited = await startHerald(["--admin-rate-limit", "1"]);
  });
  after(async () => {
    await limited?.stop();
  });

  test("429 is retried after Retry-After with the same Idempotency-Key, and stored once", async () => {
    const seen: { key: string | null; status: number }[] = [];
    const recording: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      seen.push({ key: new Headers(init?.headers).get("Idempotency-Key"), status: res.status });
      return res;
    };
    const ping = seedExamples().get("ping");
    const c = new Herald({ baseUrl: limited.url, apiKey: adminKey, fetch: recording, maxRetries: 10 });
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => c.events.publish({ type: "ping", data: ping })));
    assert.equal(new Set(results.map((r) => r.id)).size, 6, "six distinct events");
    const limitedCalls = seen.filter((s) => s.status === 429);
    assert.ok(limitedCalls.length > 0, `no 429 among ${seen.length} requests: the limit did not bite`);
    // Every key that was refused was sent again and then accepted.
    for (const { key } of limitedCalls) {
      assert.ok(seen.some((s) => s.key === key && s.status === 202), `key ${key} never accepted`);
    }
    assert.equal(new Set(seen.map((s) => s.key)).size, 6, "one key per publish call, reused by its retries");

    const noRetry = new Herald({ baseUrl: limited.url, apiKey: adminKey, maxRetries: 0 });
    const errs = await Promise.all(Array.from({ length: 4 }, () => noRetry.events.publish({ type: "ping", data: ping }).catch((e: unknown) => e)));
    const refused = errs.find((e) => e instanceof HeraldError) as HeraldError | undefined;
    assert.ok(refused, "with maxRetries 0 some publish must fail with 429");
    assert.equal(refused.status, 429);
    assert.equal(refused.code, "RATE_LIMITED");
    assert.ok((refused.retryAfter ?? 0) >= 1, `retryAfter ${refused.retryAfter}`);
  });
});
