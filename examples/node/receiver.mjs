#!/usr/bin/env node
// A Herald webhook receiver in Node.js (20 or later), standard library only.
//
// Herald signs every request it sends to your endpoint. This receiver checks that
// signature, drops repeats of a delivery it has already handled, and prints one line per
// request:
//
//     listening on 8000
//     verified type=drift.detected key=del_01JD...     a new event: handle it
//     duplicate type=drift.detected key=del_01JD...    seen before: answered 200, nothing done
//     rejected status=401 reason=signature_mismatch    not from Herald (or the wrong secret)
//
// Run it with your webhook's format and secret (shown once, when you created the webhook):
//
//     node receiver.mjs --format standard --secret whsec_... --port 8000
//
// or with WEBHOOK_FORMAT, WEBHOOK_SECRET and PORT in the environment. During a secret
// rotation give both secrets (--secret OLD --secret NEW, or WEBHOOK_SECRET="OLD NEW").
// Port 0 picks a free port; the line "listening on <port>" says which.
//
// Put your own code in handleEvent() below. Read ../README.md for why each step is there.

import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";

// The format is chosen when the webhook is registered with Herald ("format" in
// POST /api/v1/webhooks): it decides the envelope, the signature headers and the dedupe key.
const FORMATS = ["infraaudit", "frugally", "standard"];

// The sha256= formats sign in a main header and, during a secret rotation, in a -Next
// header with the new secret. Node lowercases incoming header names.
const SHA256_HEADERS = {
  infraaudit: ["x-infraaudit-signature", "x-infraaudit-signature-next"],
  frugally: ["x-frugally-signature", "x-frugally-signature-next"],
};

// Standard Webhooks: refuse a webhook-timestamp more than 5 minutes from now, so a request
// captured on its way cannot be replayed later.
const TIMESTAMP_TOLERANCE_SECONDS = 5 * 60;

// Herald refuses events over 1 MiB; the envelope adds a few hundred bytes.
const MAX_BODY_BYTES = 2 * 1024 * 1024;

// Remember a dedupe key longer than Herald keeps retrying: the longest schedule (standard)
// ends about 28 hours after the first attempt, 33 with its jitter.
const DEFAULT_DEDUPE_TTL_SECONDS = 48 * 60 * 60;

// handleEvent is your code: act on one verified, first-time event.
//
// Answer fast: Herald waits 10 s (15 s for standard) and then counts the attempt as failed
// and sends it again. Put slow work on a queue and return. Throwing answers 500, and
// Herald retries later.
async function handleEvent(eventType, key, envelope) {
  // envelope.data is the event's payload, e.g. envelope.data.resource_name.
}

// Rejected is a request that is answered with status and not handled.
class Rejected extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
    this.reason = reason;
  }
}

// hmacKeys returns the HMAC keys the secrets give in this format.
// infraaudit and frugally: the secret string's own bytes, whsec_ prefix included.
// standard: the bytes the base64 after whsec_ decodes to.
function hmacKeys(format, secrets) {
  if (format !== "standard") return secrets.map((s) => Buffer.from(s, "utf8"));
  return secrets.map((s) => {
    const b64 = s.replace(/^whsec_/, "");
    // Buffer.from(…, "base64") skips characters it does not know: check first.
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      throw new Error("a standard secret is whsec_ followed by base64");
    }
    return Buffer.from(b64, "base64");
  });
}

// safeEqual compares in constant time: the answer's timing does not tell an attacker how
// much of a forgery was right. timingSafeEqual throws on different lengths, and a
// signature's length is no secret.
function safeEqual(a, b) {
  return a.length === b.length && timingSafeEqual(a, b);
}

// verifySha256 checks infraaudit and frugally: the header is "sha256=" + hex HMAC-SHA256
// of the raw body.
function verifySha256(format, keys, headers, body) {
  const received = SHA256_HEADERS[format]
    .map((name) => headers[name])
    .filter((value) => value)
    .map((value) => Buffer.from(value, "utf8"));
  if (received.length === 0) throw new Rejected(401, "missing_signature");
  for (const key of keys) {
    const hex = createHmac("sha256", key).update(body).digest("hex");
    const expected = Buffer.from(`sha256=${hex}`, "utf8");
    if (received.some((value) => safeEqual(expected, value))) return;
  }
  throw new Rejected(401, "signature_mismatch");
}

// verifyStandard checks Standard Webhooks: webhook-signature holds space-separated
// "v1,<base64>" entries, each an HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>";
// any one may match (during a rotation Herald signs with both secrets). It returns the
// webhook-id.
function verifyStandard(keys, headers, body) {
  const msgId = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (!signatures) throw new Rejected(401, "missing_signature");
  if (!msgId || !/^[0-9]{1,15}$/.test(timestamp ?? "")) throw new Rejected(401, "missing_header"); // Unix seconds
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS) {
    throw new Rejected(401, "timestamp_out_of_tolerance");
  }
  const signed = Buffer.concat([Buffer.from(`${msgId}.${timestamp}.`, "utf8"), body]);
  for (const key of keys) {
    const expected = Buffer.from(createHmac("sha256", key).update(signed).digest("base64"), "utf8");
    for (const entry of signatures.split(" ").filter(Boolean)) {
      const [version, signature = ""] = entry.split(",", 2);
      // "v1a," entries are ed25519 signatures, for asymmetric keys: not used here.
      if (version === "v1" && safeEqual(expected, Buffer.from(signature, "utf8"))) return msgId;
    }
  }
  throw new Rejected(401, "signature_mismatch");
}

// parseEnvelope returns the event type and the dedupe key of a verified body. The dedupe
// key is what stays the same when Herald sends a delivery again: infraaudit: delivery_id;
// frugally: id (the event id); standard: the webhook-id header (the event id).
function parseEnvelope(format, body, webhookId) {
  let envelope;
  try {
    envelope = JSON.parse(body.toString("utf8"));
  } catch {
    throw new Rejected(400, "malformed_body");
  }
  if (envelope === null || typeof envelope !== "object" || Array.isArray(envelope)) {
    throw new Rejected(400, "malformed_body");
  }
  const [eventType, key] = {
    infraaudit: [envelope.event, envelope.delivery_id],
    frugally: [envelope.type, envelope.id],
    standard: [envelope.type, webhookId],
  }[format];
  if (typeof eventType !== "string" || !eventType || typeof key !== "string" || !key) {
    throw new Rejected(400, "malformed_body");
  }
  return { eventType, key, envelope };
}

// SeenKeys holds the dedupe keys handled, or being handled, in the last ttl seconds. In
// memory, so a restart forgets them and two processes do not share them. In production
// keep them where your side effects go: a table with a unique key, written in the same
// transaction as the work.
class SeenKeys {
  constructor(ttlSeconds) {
    this.ttlMs = ttlSeconds * 1000;
    this.keys = new Map(); // key -> { expiry: Date.now() when it may be forgotten, done }
    this.nextSweep = 0;
  }

  // begin records key as being handled and returns "new", or says it is "in_progress" or
  // "done" already. Node runs it to the end before another request's code, so of two
  // concurrent requests with one key, one gets "new".
  begin(key) {
    const now = Date.now();
    if (now >= this.nextSweep) { // drop expired keys now and then, not every time
      for (const [k, v] of this.keys) if (v.expiry <= now) this.keys.delete(k);
      this.nextSweep = now + 60_000;
    }
    const entry = this.keys.get(key);
    if (entry && entry.expiry > now) return entry.done ? "done" : "in_progress";
    this.keys.set(key, { expiry: now + this.ttlMs, done: false });
    return "new";
  }

  // done records that key was handled: its repeats are duplicates.
  done(key) {
    const entry = this.keys.get(key);
    if (entry) entry.done = true;
  }

  // forget forgets key, so that Herald's next attempt is handled again.
  forget(key) {
    this.keys.delete(key);
  }
}

// printable replaces anything but printable ASCII, so one request stays one line.
const printable = (value) => value.replace(/[^\x21-\x7e]/g, "?");

const log = (line) => process.stdout.write(line + "\n"); // synchronous on Linux pipes and files

// makeReceiver returns the function that handles one request's headers and raw body and
// resolves to [status, response text].
function makeReceiver(format, secrets, dedupeTtlSeconds) {
  const keys = hmacKeys(format, secrets);
  const seen = new SeenKeys(dedupeTtlSeconds);

  return async function receive(headers, body) {
    let parsed;
    try {
      // 1. Verify the raw bytes, exactly as received, before anything else.
      let webhookId = null;
      if (format === "standard") webhookId = verifyStandard(keys, headers, body);
      else verifySha256(format, keys, headers, body);
      // 2. Only now trust and parse the body.
      parsed = parseEnvelope(format, body, webhookId);
    } catch (err) {
      if (!(err instanceof Rejected)) throw err;
      log(`rejected status=${err.status} reason=${err.reason}`);
      return [err.status, err.reason];
    }

    const { eventType, key, envelope } = parsed;
    const line = `type=${printable(eventType)} key=${printable(key)}`;
    // 3. Handle each dedupe key once. Answer 200 to a repeat, so Herald stops sending
    // it; 409 to a repeat that arrives while the first is still being handled, so Herald
    // sends it again later, in case the first fails.
    const state = seen.begin(key);
    if (state === "done") {
      log(`duplicate ${line}`);
      return [200, "duplicate"];
    }
    if (state === "in_progress") {
      log("rejected status=409 reason=in_progress");
      return [409, "in_progress"];
    }
    try {
      await handleEvent(eventType, key, envelope);
    } catch (err) {
      seen.forget(key); // whatever failed, Herald should try again
      console.error(err);
      log("failed status=500 reason=handler_error");
      return [500, "handler_error"];
    }
    seen.done(key);
    log(`verified ${line}`);
    return [200, "ok"];
  };
}

// readBody collects the raw body as one Buffer: never decode and re-encode it before
// verifying. It resolves to null when the body is larger than MAX_BODY_BYTES (and reads
// the rest without keeping it, so that the answer can be sent).
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks) : null));
    req.on("error", reject);
  });
}

function main() {
  const { values } = parseArgs({
    options: {
      format: { type: "string", default: process.env.WEBHOOK_FORMAT },
      secret: { type: "string", multiple: true },
      port: { type: "string", default: process.env.PORT ?? "8000" },
      host: { type: "string", default: process.env.HOST ?? "127.0.0.1" },
      "dedupe-ttl": { type: "string", default: String(DEFAULT_DEDUPE_TTL_SECONDS) },
    },
  });
  const secrets = values.secret ?? (process.env.WEBHOOK_SECRET ?? "").split(/\s+/).filter(Boolean);
  const usage = (msg) => {
    process.stderr.write(`receiver.mjs: ${msg}\n`);
    process.exit(2);
  };
  if (!FORMATS.includes(values.format)) usage(`--format (or WEBHOOK_FORMAT) must be one of ${FORMATS.join(", ")}`);
  if (secrets.length === 0) usage("--secret (or WEBHOOK_SECRET) is required");
  let receive;
  try {
    receive = makeReceiver(values.format, secrets, Number(values["dedupe-ttl"]));
  } catch (err) {
    usage(err.message);
  }

  const server = createServer(async (req, res) => {
    const reply = (status, text) => {
      res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(text + "\n");
    };
    try {
      if (req.method !== "POST") {
        log("rejected status=405 reason=method_not_allowed");
        return reply(405, "method_not_allowed");
      }
      const body = await readBody(req);
      if (body === null) {
        log("rejected status=413 reason=body_too_large");
        return reply(413, "body_too_large");
      }
      const [status, text] = await receive(req.headers, body);
      reply(status, text);
    } catch (err) {
      console.error(err);
      log("failed status=500 reason=internal_error");
      if (!res.headersSent) reply(500, "internal_error");
    }
  });
  server.listen(Number(values.port), values.host, () => {
    log(`listening on ${server.address().port}`);
  });
}

main();
