import {
  BodyChangedError,
  InvalidPayloadError,
  InvalidSecretError,
  MissingHeaderError,
  MissingSignatureError,
  SignatureMismatchError,
  StaleTimestampError,
  WrongFormatError,
  WrongSecretError,
} from "./errors.js";

/** The wire formats Herald delivers in. */
export type Format = "standard" | "infraaudit" | "frugally";

/** The InfraAudit envelope. */
export interface InfraAuditEnvelope<D = unknown> {
  event: string;
  timestamp: string;
  webhook_id: string;
  delivery_id: string;
  data: D;
}

/** The Frugally envelope. */
export interface FrugallyEnvelope<D = unknown> {
  id: string;
  type: string;
  timestamp: string;
  team_id: string;
  data: D;
}

/** The Standard Webhooks envelope; the event id is the `webhook-id` header. */
export interface StandardEnvelope<D = unknown> {
  type: string;
  timestamp: string;
  data: D;
}

/** The envelope of format F. */
export type Envelope<F extends Format = Format, D = unknown> = F extends "infraaudit"
  ? InfraAuditEnvelope<D>
  : F extends "frugally"
    ? FrugallyEnvelope<D>
    : StandardEnvelope<D>;

/**
 * Request headers in any of the shapes runtimes hand them over: a fetch `Headers`, Node's
 * `IncomingHttpHeaders` (values may be arrays), or a plain object with names in any case.
 */
export type HeadersLike =
  | Headers
  | Record<string, string | string[] | undefined>
  | Iterable<[string, string]>;

/** Options of a Webhook verifier. */
export interface WebhookOptions<F extends Format = Format> {
  /** The format the webhook was registered with. Default `"standard"`. */
  format?: F;
  /**
   * How far, in seconds, a standard request's `webhook-timestamp` may be from now, in the
   * past or the future. Default 300 (5 minutes), as the Go receiver and the Standard
   * Webhooks libraries; a negative value disables the check.
   */
  toleranceSeconds?: number;
  /** The current time; default `Date.now`. For tests. */
  now?: () => Date | number;
}

/** The headers that carry each format's signatures, in the documented spelling. */
const signatureHeaders: Record<Format, string[]> = {
  infraaudit: ["X-InfraAudit-Signature", "X-InfraAudit-Signature-Next"],
  frugally: ["X-Frugally-Signature", "X-Frugally-Signature-Next"],
  standard: ["webhook-signature"],
};
/** Every format, in the order errors mention them. */
const formats: Format[] = ["infraaudit", "frugally", "standard"];
/** The most webhook-signature entries checked: each costs a check over the whole body. */
const maxSignatureEntries = 16;

const subtle = (): SubtleCrypto => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error("webhook: this runtime has no WebCrypto (globalThis.crypto.subtle)");
  return s;
};
const utf8 = new TextEncoder();

/** Bytes WebCrypto accepts. */
type Bytes = Uint8Array<ArrayBuffer>;

/** A parsed secret: an HMAC key, or an ed25519 public key. */
type Key = { hmac: Bytes; public?: undefined } | { public: Bytes; hmac?: undefined };

/**
 * Webhook verifies that requests come from Herald, signed with one of its secrets in its
 * format, and returns the parsed envelope.
 *
 * ```ts
 * const wh = new Webhook(process.env.WEBHOOK_SECRET!, { format: "standard" });
 * const event = await wh.verify(rawBody, request.headers);
 * ```
 *
 * Give several secrets (an array) during a rotation. For `standard`, `whsec_` secrets check
 * `v1,` entries and `whpk_` ed25519 public keys check `v1a,` entries (through WebCrypto).
 * It mirrors Herald's Go receiver library (`webhook`): the same rules, tolerance and
 * reasons for refusing.
 */
export class Webhook<F extends Format = "standard"> {
  /** The format this verifier checks. */
  readonly format: F;
  readonly #keys: Key[];
  readonly #tolerance: number;
  readonly #now: () => number;
  #imported: Promise<CryptoKey[]> | undefined;

  /**
   * @param secret the webhook's secret (`whsec_…`), an ed25519 public key (`whpk_…`, standard
   *   only), or several during a rotation.
   * @throws InvalidSecretError if a secret is malformed or of a kind the format does not
   *   use, or the format is unknown.
   */
  constructor(secret: string | string[], options: WebhookOptions<F> = {}) {
    const format = (options.format ?? "standard") as F;
    if (!formats.includes(format)) {
      throw new InvalidSecretError(`unknown format ${JSON.stringify(format)}: want infraaudit, frugally or standard`);
    }
    this.format = format;
    const secrets = typeof secret === "string" ? [secret] : [...secret];
    if (secrets.length === 0) throw new InvalidSecretError("no secret configured");
    this.#keys = secrets.map((s, i) => {
      const k = parseSecret(format, s);
      if (typeof k === "string") {
        throw new InvalidSecretError(`secret ${i + 1} of ${secrets.length}: ${k}`);
      }
      return k;
    });
    this.#tolerance = options.toleranceSeconds ?? 300;
    const now = options.now;
    this.#now = now ? () => Number(now()) : () => Date.now();
  }

  /**
   * verify checks that rawBody, received with headers, was signed by Herald with one of
   * the secrets, and returns the parsed envelope.
   *
   * For infraaudit and frugally, the main signature header or its `-Next` header (sent
   * during a rotation) must match. For standard, `webhook-id` and `webhook-timestamp` must
   * be present, the timestamp within the tolerance of now (checked before any signature),
   * and one entry of `webhook-signature` must match.
   *
   * @param rawBody the body exactly as received: a string, or bytes. Not parsed and
   *   re-serialised, not trimmed: `await request.text()`, Express's `express.raw()`.
   * @throws MissingSignatureError, WrongFormatError, MissingHeaderError,
   *   StaleTimestampError, WrongSecretError, BodyChangedError, SignatureMismatchError or
   *   InvalidPayloadError, all WebhookVerificationError with a `reason`.
   */
  async verify(rawBody: string | Uint8Array | ArrayBuffer, headers: HeadersLike): Promise<Envelope<F>> {
    const body = toBytes(rawBody);
    const h = headerReader(headers);
    this.#checkPresent(h);
    if (this.format === "standard") {
      await this.#verifyStandard(h, body);
    } else {
      await this.#verifySHA256(h, body);
    }
    return parseEnvelope(body) as Envelope<F>;
  }

  #checkPresent(h: HeaderReader): void {
    const mine = signatureHeaders[this.format];
    if (mine.some((name) => h(name).length > 0)) return;
    for (const f of formats) {
      if (f === this.format) continue;
      for (const name of signatureHeaders[f]) {
        if (h(name).length > 0) {
          throw new WrongFormatError(
            `no ${mine[0]} header, but a ${name} header: the request looks like the ${f} format, and this verifier is for ${this.format}`,
          );
        }
      }
    }
    throw new MissingSignatureError(`no ${mine[0]} header`);
  }

  async #verifySHA256(h: HeaderReader, body: Bytes): Promise<void> {
    const sigs: Bytes[] = [];
    const malformed: string[] = [];
    for (const name of signatureHeaders[this.format]) {
      for (const value of h(name).flatMap((v) => v.split(","))) {
        const m = /^sha256=([0-9a-fA-F]{64})$/.exec(value.trim());
        if (!m) {
          malformed.push(name);
          continue;
        }
        sigs.push(fromHex(m[1]!));
      }
    }
    if (sigs.length === 0) {
      throw new SignatureMismatchError(`${[...new Set(malformed)].join(" and ")} is not sha256=<64 hex digits>`);
    }
    const keys = await this.#importedKeys();
    for (const key of keys) {
      for (const sig of sigs) {
        if (await subtle().verify("HMAC", key, sig, body)) return;
      }
    }
    throw await mismatch(h, body);
  }

  async #verifyStandard(h: HeaderReader, body: Bytes): Promise<void> {
    const id = h("webhook-id")[0] ?? "";
    if (id === "") throw new MissingHeaderError("no webhook-id header");
    const tsHeader = h("webhook-timestamp")[0] ?? "";
    if (tsHeader === "") throw new MissingHeaderError("no webhook-timestamp header");
    if (!/^[+-]?\d{1,19}$/.test(tsHeader) || BigInt(tsHeader) > 9223372036854775807n || BigInt(tsHeader) < -9223372036854775808n) {
      throw new MissingHeaderError(`webhook-timestamp ${JSON.stringify(tsHeader)} is not a number of Unix seconds`);
    }
    const ts = Number(tsHeader);
    this.#checkTimestamp(ts);

    // Several header lines, or a fetch Headers joining them with ", ", are one list.
    const entries = h("webhook-signature")
      .join(" ")
      .split(/\s+/)
      .map((e) => e.replace(/,$/, ""))
      .filter((e) => e !== "");
    if (entries.length > maxSignatureEntries) {
      throw new SignatureMismatchError(
        `webhook-signature has ${entries.length} entries; a sender signs with at most a few keys, and more than ${maxSignatureEntries} are refused`,
      );
    }
    const msg = concat(utf8.encode(`${id}.${BigInt(tsHeader)}.`), body);
    const keys = await this.#importedKeys();
    let checked = false;
    const versions: string[] = [];
    for (const entry of entries) {
      const comma = entry.indexOf(",");
      const version = comma < 0 ? entry : entry.slice(0, comma);
      versions.push(version);
      const sig = comma < 0 ? undefined : fromBase64(entry.slice(comma + 1));
      for (let i = 0; i < keys.length; i++) {
        const k = this.#keys[i]!;
        if (version === "v1" && k.hmac) {
          checked = true;
          if (sig && (await subtle().verify("HMAC", keys[i]!, sig, msg))) return;
        } else if (version === "v1a" && k.public) {
          checked = true;
          if (sig && sig.length === 64 && (await subtle().verify("Ed25519", keys[i]!, sig, msg))) return;
        }
      }
    }
    if (!checked) {
      throw new SignatureMismatchError(
        `webhook-signature has no entry the configured secrets can check (v1 for whsec_ secrets, v1a for whpk_ keys); its entries are versions ${JSON.stringify(versions)}`,
      );
    }
    throw await mismatch(h, body);
  }

  #checkTimestamp(ts: number): void {
    const tolerance = this.#tolerance;
    if (tolerance < 0) return;
    const ageMs = this.#now() - ts * 1000;
    if (ageMs > tolerance * 1000) {
      throw new StaleTimestampError(`webhook-timestamp is ${duration(Math.round(ageMs / 1000))} in the past, more than the ${duration(tolerance)} tolerance`);
    }
    if (ageMs < -tolerance * 1000) {
      throw new StaleTimestampError(`webhook-timestamp is ${duration(Math.round(-ageMs / 1000))} in the future, more than the ${duration(tolerance)} tolerance`);
    }
  }

  /** The secrets as WebCrypto keys, imported once. */
  #importedKeys(): Promise<CryptoKey[]> {
    this.#imported ??= Promise.all(
      this.#keys.map((k) =>
        k.hmac
          ? subtle().importKey("raw", k.hmac, { name: "HMAC", hash: "SHA-256" }, false, ["verify"])
          : subtle().importKey("raw", k.public!, { name: "Ed25519" }, false, ["verify"]),
      ),
    );
    const p = this.#imported;
    p.catch(() => {
      if (this.#imported === p) this.#imported = undefined; // retry an import that failed
    });
    return p;
  }
}

/**
 * parseSecret parses secret for format f, or says what is wrong with it without quoting
 * it. The rules are Herald's own (the Go receiver's parseSecret).
 */
function parseSecret(f: Format, secret: string): Key | string {
  const ed = secret.startsWith("whsk_") || secret.startsWith("whpk_");
  if (f !== "standard") {
    if (ed) return `ed25519 keys (whsk_, whpk_) are only used by the standard format, not ${f}`;
    if (secret.length < 16 || secret.length > 256) return `a secret is 16 to 256 characters long, not ${secret.length}`;
    if (!/^[\x21-\x7e]*$/.test(secret)) return "a secret is printable ASCII without spaces (look for a trailing newline)";
    return { hmac: utf8.encode(secret) };
  }
  if (secret.startsWith("whsk_")) {
    return "a private key (whsk_) signs, it does not verify: give the verifier its public key (whpk_)";
  }
  if (secret.startsWith("whpk_")) {
    const b = fromBase64(secret.slice(5));
    if (!b || b.length !== 32) return "a public key is whpk_ followed by the base64 of 32 bytes";
    return { public: b };
  }
  const b = fromBase64(secret.startsWith("whsec_") ? secret.slice(6) : secret);
  if (!b) return "a standard secret is whsec_ followed by base64";
  if (b.length < 24 || b.length > 64) return `a standard secret decodes to 24 to 64 bytes, not ${b.length}`;
  return { hmac: b };
}

/**
 * mismatch explains a signature that matches no secret. The Content-Digest header, when
 * present, tells a wrong secret from a changed body; without it, the body's shape may hint
 * at a framework that re-serialised it.
 */
async function mismatch(h: HeaderReader, body: Bytes): Promise<SignatureMismatchError> {
  const digest = sha256Digest(h("Content-Digest"));
  if (!digest) {
    return new SignatureMismatchError(
      `signature does not match: wrong secret, or the body was changed after it was sent${bodyHint(body)}`,
    );
  }
  const sum = new Uint8Array(await subtle().digest("SHA-256", body));
  if (equalBytes(digest, sum)) {
    return new WrongSecretError(
      "signature does not match, but the body matches its Content-Digest header, so it is intact: the secret is wrong",
    );
  }
  return new BodyChangedError(
    `signature does not match, and the body does not match its Content-Digest header: the body was changed after it was sent${bodyHint(body)}`,
  );
}

/** bodyHint says what may have changed body, or "". */
function bodyHint(body: Bytes): string {
  if (body.length === 0) return " (the body is empty: was it read before verifying?)";
  const text = new TextDecoder().decode(body);
  if (text.trim() !== text) {
    return " (the body has leading or trailing whitespace, which Herald never sends: verify the raw bytes received)";
  }
  try {
    JSON.parse(text);
    if (compactJSON(text) !== text) {
      return " (the body is not compact JSON as Herald sends it: was it re-serialised? verify the raw bytes received)";
    }
  } catch {
    // not JSON: no hint
  }
  return "";
}

/** compactJSON removes the insignificant whitespace of valid JSON text. */
function compactJSON(text: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === "\\") out += text[++i] ?? "";
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c !== " " && c !== "\t" && c !== "\n" && c !== "\r") {
      out += c;
    }
  }
  return out;
}

/**
 * sha256Digest returns the sha-256 member of Content-Digest values, an RFC 8941
 * dictionary such as "sha-256=:<base64>:, sha-512=:<base64>:", or undefined.
 */
function sha256Digest(values: string[]): Bytes | undefined {
  let digest: Bytes | undefined;
  for (const member of values.join(",").split(",")) {
    const trimmed = member.trim();
    const eq = trimmed.indexOf("=");
    if (eq < 0 || trimmed.slice(0, eq).toLowerCase() !== "sha-256") continue;
    const value = trimmed.slice(eq + 1).split(";")[0]!.trim();
    if (!value.startsWith(":") || !value.endsWith(":") || value.length < 2) continue;
    const d = fromBase64(value.slice(1, -1));
    if (d && d.length === 32) digest = d; // the last member of a name wins
  }
  return digest;
}

/**
 * parseEnvelope parses a verified body. Herald always sends its format's envelope, and
 * the signature proves Herald sent it, so only JSON itself is checked.
 */
function parseEnvelope(body: Bytes): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new InvalidPayloadError("the body is not JSON");
  }
}

type HeaderReader = (name: string) => string[];

/** headerReader returns a case-insensitive lookup of a header's values. */
function headerReader(headers: HeadersLike): HeaderReader {
  if (!(headers instanceof Map) && typeof (headers as Headers).get === "function" && typeof (headers as Headers).has === "function") {
    // A fetch Headers, whose get is case-insensitive and joins repeated headers with ", ".
    const hs = headers as Headers;
    return (name) => {
      const v = hs.get(name);
      return v === null || v === "" ? [] : [v];
    };
  }
  const map = new Map<string, string[]>();
  const add = (k: string, v: string | string[] | undefined) => {
    if (v === undefined) return;
    const key = k.toLowerCase();
    const list = map.get(key) ?? [];
    for (const one of Array.isArray(v) ? v : [v]) if (one !== "") list.push(String(one));
    map.set(key, list);
  };
  if (Symbol.iterator in (headers as object)) {
    for (const [k, v] of headers as Iterable<[string, string]>) add(k, v);
  } else {
    for (const [k, v] of Object.entries(headers as Record<string, string | string[] | undefined>)) add(k, v);
  }
  return (name) => map.get(name.toLowerCase()) ?? [];
}

function toBytes(body: string | Uint8Array | ArrayBuffer): Bytes {
  if (typeof body === "string") return utf8.encode(body);
  if (body instanceof Uint8Array) return new Uint8Array(body); // a copy: a Node Buffer may share a larger buffer
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new TypeError(
    "webhook: verify needs the raw body as received (a string, Uint8Array or ArrayBuffer), not a parsed object: re-serialising changes the bytes that were signed",
  );
}

/** fromBase64 decodes standard, padded base64, or returns undefined. */
function fromBase64(s: string): Bytes | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  try {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}

function fromHex(s: string): Bytes {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function concat(a: Bytes, b: Bytes): Bytes {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** equalBytes compares in time independent of where a and b differ. */
function equalBytes(a: Bytes, b: Bytes): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** duration renders seconds as Go does, e.g. 6m0s, 1h2m3s. */
function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return (h ? `${h}h` : "") + (h || m ? `${m}m` : "") + `${s}s`;
}
