// The signature vectors every Herald client agrees on (clients/testdata/vectors.json,
// written and checked by the Go receiver): each verifies, or is refused for its stated
// reason, here too.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  BodyChangedError,
  InvalidSecretError,
  SignatureMismatchError,
  Webhook,
  WebhookVerificationError,
  WrongSecretError,
  type Format,
} from "../src/index.js";

interface Vector {
  name: string;
  format: Format;
  secret: string;
  headers: Record<string, string>;
  body: string;
  timestamp: number;
  valid: boolean;
  error?: string;
}

const vectorsPath = fileURLToPath(new URL("../../../testdata/vectors.json", import.meta.url));
const vectors: Vector[] = JSON.parse(readFileSync(vectorsPath, "utf8"));

test("the vectors file holds the standard and ed25519 vectors", () => {
  assert.ok(vectors.length >= 20, `${vectors.length} vectors`);
  assert.ok(vectors.some((v) => v.name === "standard webhooks specification vector" && v.valid));
  assert.ok(vectors.some((v) => v.secret.startsWith("whpk_") && v.valid));
  for (const reason of ["no_signature", "wrong_format", "missing_header", "stale_timestamp", "wrong_secret", "body_changed", "signature_mismatch"]) {
    assert.ok(vectors.some((v) => v.error === reason), `no vector refused for ${reason}`);
  }
});

for (const v of vectors) {
  test(`vector: ${v.name}`, async () => {
    const wh = new Webhook(v.secret, { format: v.format, now: () => v.timestamp * 1000 });
    // Every shape of headers a runtime hands over: a plain object, a fetch Headers, and
    // Node's IncomingHttpHeaders (lowercase, here as given).
    for (const headers of [v.headers, new Headers(v.headers), upper(v.headers)]) {
      if (v.valid) {
        const env = await wh.verify(v.body, headers);
        assert.deepEqual(env, JSON.parse(v.body));
        const bytes = await wh.verify(new TextEncoder().encode(v.body), headers);
        assert.deepEqual(bytes, env);
        continue;
      }
      await assert.rejects(wh.verify(v.body, headers), (err: unknown) => {
        assert.ok(err instanceof WebhookVerificationError, `${err}`);
        assert.equal(err.reason, v.error, err.message);
        assert.ok(!err.message.includes(v.secret), "the message quotes the secret");
        return true;
      });
    }
  });
}

/** upper returns headers with their names in upper case, as some proxies send them. */
function upper(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toUpperCase(), v]));
}

test("wrong secret and changed body are both signature mismatches", async () => {
  const v = vectors.find((x) => x.error === "wrong_secret")!;
  const err = await new Webhook(v.secret, { format: v.format, now: () => v.timestamp * 1000 }).verify(v.body, v.headers).catch((e) => e);
  assert.ok(err instanceof WrongSecretError && err instanceof SignatureMismatchError && !(err instanceof BodyChangedError));
});

test("several secrets: any one verifies", async () => {
  const v = vectors.find((x) => x.name === "standard webhooks specification vector")!;
  const other = "whsec_" + btoa("x".repeat(32));
  const wh = new Webhook([other, v.secret], { now: () => v.timestamp * 1000 });
  await wh.verify(v.body, v.headers);
  await assert.rejects(new Webhook(other, { now: () => v.timestamp * 1000 }).verify(v.body, v.headers), SignatureMismatchError);
});

test("a negative tolerance disables the timestamp check", async () => {
  const v = vectors.find((x) => x.name === "standard webhooks specification vector")!;
  await new Webhook(v.secret, { toleranceSeconds: -1 }).verify(v.body, v.headers);
});

test("bad secrets and formats are refused when the verifier is made", () => {
  const cases: [string | string[], Format | string, RegExp][] = [
    ["whsec_" + btoa("x".repeat(12)), "standard", /24 to 64 bytes/],
    ["whsec_!!!notbase64", "standard", /base64/],
    ["whsk_" + btoa("k".repeat(64)), "standard", /private key/],
    ["whpk_" + btoa("k".repeat(31)), "standard", /32 bytes/],
    ["whpk_" + btoa("k".repeat(32)), "frugally", /only used by the standard format/],
    ["tooshort", "infraaudit", /16 to 256/],
    ["a secret with spaces in it", "infraaudit", /printable ASCII/],
    [[], "standard", /no secret/],
    ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "svix", /unknown format/],
  ];
  for (const [secret, format, message] of cases) {
    assert.throws(() => new Webhook(secret, { format: format as Format }), (err: unknown) => {
      assert.ok(err instanceof InvalidSecretError, `${format} ${secret}: ${err}`);
      assert.match(err.message, message);
      return true;
    });
  }
});

test("a parsed body is refused with a message that says to verify the raw bytes", async () => {
  const v = vectors[0]!;
  const wh = new Webhook(v.secret, { now: () => v.timestamp * 1000 });
  await assert.rejects(wh.verify(JSON.parse(v.body), v.headers), /raw body/);
});

test("a re-serialised body gets a hint", async () => {
  const v = vectors.find((x) => x.name === "standard Herald delivery with Content-Digest")!;
  const wh = new Webhook(v.secret, { now: () => v.timestamp * 1000 });
  const pretty = JSON.stringify(JSON.parse(v.body), null, 2);
  await assert.rejects(wh.verify(pretty, v.headers), (err: unknown) => {
    assert.ok(err instanceof BodyChangedError);
    assert.match(err.message, /re-serialised/);
    return true;
  });
});

test("repeated webhook-signature headers, as Node and fetch join them, are one list", async () => {
  const v = vectors.find((x) => x.name === "standard rotation: two v1 entries, verified with the old secret")!;
  const [a, b] = v.headers["webhook-signature"]!.split(" ");
  const wh = new Webhook(v.secret, { now: () => v.timestamp * 1000 });
  const base = { ...v.headers };
  delete base["webhook-signature"];
  const h = new Headers(base);
  h.append("webhook-signature", a!);
  h.append("webhook-signature", b!); // get() answers "a, b"
  await wh.verify(v.body, h);
  await wh.verify(v.body, { ...base, "webhook-signature": [a!, b!] }); // IncomingHttpHeaders with an array
  await wh.verify(v.body, { ...base, "webhook-signature": `${a}, ${b}` }); // Node's req.headers joins with ", "
  await wh.verify(v.body, new Map(Object.entries({ ...base, "Webhook-Signature": `${a} ${b}` })));
});

test("the tolerance is exact to the millisecond, in both directions", async () => {
  const v = vectors.find((x) => x.name === "standard webhooks specification vector")!;
  const at = (ms: number) => new Webhook(v.secret, { now: () => ms }).verify(v.body, v.headers);
  const ts = v.timestamp * 1000;
  await at(ts + 300_000);
  await at(ts - 300_000);
  await assert.rejects(at(ts + 300_001), /in the past/);
  await assert.rejects(at(ts - 300_001), /in the future/);
});

test("a malformed webhook-timestamp is a missing header", async () => {
  const v = vectors.find((x) => x.name === "standard webhooks specification vector")!;
  const wh = new Webhook(v.secret, { now: () => v.timestamp * 1000 });
  for (const ts of ["1614265330.5", "soon", "99999999999999999999"]) {
    await assert.rejects(wh.verify(v.body, { ...v.headers, "webhook-timestamp": ts }), (err: unknown) => {
      assert.ok(err instanceof WebhookVerificationError && err.reason === "missing_header", `${ts}: ${err}`);
      return true;
    });
  }
});
