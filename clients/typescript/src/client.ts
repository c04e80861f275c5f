import { HeraldError, type ErrorBody } from "./errors.js";
import type { components, operations } from "./schema.js";

type Schemas = components["schemas"];
type Query<O> = O extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

/** A webhook registration, as the API returns it. */
export type WebhookResource = Schemas["Webhook"];
/** A webhook as created: with its signing secret (or, for ed25519, its public key). */
export type CreatedWebhook = WebhookResource & { secret?: string };
/** The body of POST /api/v1/webhooks. */
export type CreateWebhookRequest = Schemas["CreateWebhookRequest"];
/** The body of PATCH and PUT /api/v1/webhooks/{id}. */
export type UpdateWebhookRequest = Schemas["UpdateWebhookRequest"];
/** An event to publish. */
export type EventRequest = Schemas["EventRequest"];
/** What publishing answers: the event's id and how many deliveries it made. */
export type PublishResult = Schemas["PublishResult"];
/** One event's outcome in a batch. */
export type BatchResult = Schemas["BatchResult"];
/** An event with its deliveries. */
export type EventWithDeliveries = Schemas["EventWithDeliveries"];
/** A delivery: one event to one webhook, with its latest attempts. */
export type Delivery = Schemas["Delivery"];
/** One attempt of a delivery. */
export type Attempt = Schemas["Attempt"];
/** An event type of the catalog. */
export type EventType = Schemas["EventType"];
/** The body of POST /api/v1/event-types. */
export type CreateEventTypeRequest = Schemas["CreateEventTypeRequest"];
/** A tenant. */
export type Tenant = Schemas["Tenant"];
/** A tenant as created: with its API key, shown once. */
export type CreatedTenant = Tenant & { api_key?: string };
/** A portal link: a one-time URL that signs a tenant in to the portal. */
export type PortalLink = Schemas["PortalLink"];
/** The body of POST /api/v1/webhooks/{id}/replay: which past events to send again. */
export interface ReplayRequest {
  /** Events published at or after this time (RFC 3339). */
  since: string;
  /** Events published before this time (RFC 3339); default now. */
  until?: string;
  /** Only these event types; default every type the webhook subscribes to. */
  types?: string[];
  /** Only events whose delivery to this webhook failed. */
  only_failed?: boolean;
}
/** What a replay answers: how many events were queued again, and how many skipped. */
export interface ReplayResult {
  replayed: number;
  skipped: number;
}

/** Options of a Herald client. */
export interface HeraldOptions {
  /** Where Herald listens, such as `https://herald.example.com`. */
  baseUrl: string;
  /** The admin key (`hk_admin_…`), which publishes, or a tenant key (`hk_…`). */
  apiKey: string;
  /**
   * How many times a request is retried after a 429 or 503 answer, or a network error when
   * retrying is safe (reads, and publishes, which carry an Idempotency-Key). Default 3.
   */
  maxRetries?: number;
  /** The longest wait before one retry, in milliseconds, whatever Retry-After says. Default 30 000. */
  maxRetryDelayMs?: number;
  /** Timeout of one attempt in milliseconds. Default 30 000; 0 for none. */
  timeoutMs?: number;
  /** The fetch to use; default `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/** Options of one call. */
export interface RequestOptions {
  /** Cancels the call, including its retries and the waits between them. */
  signal?: AbortSignal;
}

/** Options of a publish. */
export interface PublishOptions extends RequestOptions {
  /**
   * The Idempotency-Key to send; default a new random key per call, reused by the call's
   * retries, so that a retried publish is stored once.
   */
  idempotencyKey?: string;
}

/** A page of a list. */
export interface Page<T> {
  /** The items of this page. */
  items: T[];
  /** How many items match in all (X-Total-Count), when the API says. */
  total: number | undefined;
  /** Whether the page stopped early at the API's 1 MiB page size (X-Page-Truncated). */
  truncated: boolean;
  /** The next page, or undefined on the last one (the Link header's rel="next"). */
  next(): Promise<Page<T>> | undefined;
}

/** The query of a list: the operation's query parameters. */
type ListQuery<Op extends keyof operations> = Query<operations[Op]>;

/**
 * Herald is a client of Herald's API: publish events and manage webhooks, deliveries,
 * event types, tenants and portal links.
 *
 * ```ts
 * const h = new Herald({ baseUrl: "http://127.0.0.1:8080", apiKey: process.env.HERALD_API_KEY! });
 * const wh = await h.webhooks.create({ name: "alerts", url: "https://example.com/hooks", events: ["drift.detected"], format: "standard" });
 * await h.events.publish({ type: "drift.detected", data: { drift_id: 55 } });
 * ```
 *
 * Every error is a HeraldError carrying the API's error body. Answers 429 and 503 are
 * retried with backoff, honouring Retry-After.
 */
export class Herald {
  /** Webhook registrations. */
  readonly webhooks: Webhooks;
  /** Publishing and reading events. */
  readonly events: Events;
  /** The delivery log. */
  readonly deliveries: Deliveries;
  /** The event catalog. */
  readonly eventTypes: EventTypes;
  /** Tenants, their keys and their portal links. */
  readonly tenants: Tenants;
  /** One-time links into a tenant's portal. */
  readonly portalLinks: PortalLinks;
  readonly #transport: Transport;

  constructor(options: HeraldOptions) {
    if (!options || typeof options.baseUrl !== "string" || !/^https?:\/\//.test(options.baseUrl)) {
      throw new TypeError("Herald: baseUrl must be an http:// or https:// URL, such as http://127.0.0.1:8080");
    }
    if (typeof options.apiKey !== "string" || options.apiKey === "") {
      throw new TypeError("Herald: apiKey is required: the admin key (hk_admin_…) or a tenant key (hk_…)");
    }
    this.#transport = new Transport(options);
    this.webhooks = new Webhooks(this.#transport);
    this.events = new Events(this.#transport);
    this.deliveries = new Deliveries(this.#transport);
    this.eventTypes = new EventTypes(this.#transport);
    this.tenants = new Tenants(this.#transport);
    this.portalLinks = new PortalLinks(this.#transport);
  }
}

/** Webhook registrations: /api/v1/webhooks. */
export class Webhooks {
  constructor(private readonly t: Transport) {}
  /** Registers a webhook. The answer holds its signing secret; Herald pings it at once. */
  create(body: CreateWebhookRequest, opts?: RequestOptions): Promise<CreatedWebhook> {
    return this.t.json("POST", "/api/v1/webhooks", { body, ...opts });
  }
  /** A page of webhooks, newest first. */
  list(query?: ListQuery<"list-webhooks">, opts?: RequestOptions): Promise<Page<WebhookResource>> {
    return this.t.page("/api/v1/webhooks", query, opts);
  }
  /** Every webhook, page after page. */
  all(query?: ListQuery<"list-webhooks">, opts?: RequestOptions): AsyncGenerator<WebhookResource> {
    return each(this.list(query, opts));
  }
  /** One webhook. */
  get(id: string, opts?: RequestOptions): Promise<WebhookResource> {
    return this.t.json("GET", `/api/v1/webhooks/${seg(id)}`, opts);
  }
  /** Changes the fields given and keeps the others (PATCH). */
  update(id: string, body: UpdateWebhookRequest, opts?: RequestOptions): Promise<WebhookResource> {
    return this.t.json("PATCH", `/api/v1/webhooks/${seg(id)}`, { body, ...opts });
  }
  /** Replaces the webhook's settings (PUT). */
  replace(id: string, body: UpdateWebhookRequest, opts?: RequestOptions): Promise<WebhookResource> {
    return this.t.json("PUT", `/api/v1/webhooks/${seg(id)}`, { body, ...opts });
  }
  /** Deletes the webhook and its pending deliveries. */
  async delete(id: string, opts?: RequestOptions): Promise<void> {
    await this.t.json("DELETE", `/api/v1/webhooks/${seg(id)}`, opts);
  }
  /** Sends a test now (a ping, or the catalog's sample of `event_type`) and says how it went. */
  test(id: string, body: Schemas["TestInputBody"] = {}, opts?: RequestOptions): Promise<Schemas["TestOutputBody"]> {
    return this.t.json("POST", `/api/v1/webhooks/${seg(id)}/test`, { body, ...opts });
  }
  /** A new signing secret; the old one keeps signing too for the grace period. */
  rotateSecret(id: string, body: Schemas["RotateInputBody"] = {}, opts?: RequestOptions): Promise<Schemas["SecretOutputBody"]> {
    return this.t.json("POST", `/api/v1/webhooks/${seg(id)}/rotate-secret`, { body, ...opts });
  }
  /** The signing secret again (and the previous one during a rotation's grace). Logged. */
  revealSecret(id: string, opts?: RequestOptions): Promise<Schemas["RevealedSecretOutputBody"]> {
    return this.t.json("POST", `/api/v1/webhooks/${seg(id)}/reveal-secret`, opts);
  }
  /** Requeues the webhook's failed deliveries (of the last 24 h by default). */
  recover(id: string, body: Schemas["RecoverInputBody"] = {}, opts?: RequestOptions): Promise<Schemas["RecoverOutputBody"]> {
    return this.t.json("POST", `/api/v1/webhooks/${seg(id)}/recover`, { body, ...opts });
  }
  /**
   * Sends the webhook the events of a time range again, as new deliveries: 202 with how
   * many were queued and how many skipped.
   */
  replay(id: string, body: ReplayRequest, opts?: RequestOptions): Promise<ReplayResult> {
    return this.t.json("POST", `/api/v1/webhooks/${seg(id)}/replay`, { body, ...opts });
  }
  /** A page of the webhook's delivery log. */
  deliveries(id: string, query?: ListQuery<"list-webhook-deliveries">, opts?: RequestOptions): Promise<Page<Delivery>> {
    return this.t.page(`/api/v1/webhooks/${seg(id)}/deliveries`, query, opts);
  }
  /** The event types a webhook may subscribe to. */
  eventTypes(opts?: RequestOptions): Promise<EventType[]> {
    return this.t.json("GET", "/api/v1/webhooks/events", opts);
  }
}

/** Events: /api/v1/events. Publishing needs the admin key. */
export class Events {
  constructor(private readonly t: Transport) {}
  /**
   * Publishes one event: 202 with one delivery per subscribed webhook. The call sends an
   * Idempotency-Key, the same on each of its retries, so a retry never stores it twice.
   */
  publish(event: EventRequest, opts: PublishOptions = {}): Promise<PublishResult> {
    const { idempotencyKey = newIdempotencyKey(), ...rest } = opts;
    return this.t.json("POST", "/api/v1/events", { body: event, idempotent: true, headers: { "Idempotency-Key": idempotencyKey }, ...rest });
  }
  /**
   * Publishes up to 1000 events in one commit and returns one result per event, in order
   * (status 202, 200 for a repeat, or the error's). An event without `id` is given one
   * here, so that a retried batch is stored once.
   */
  async publishBatch(events: EventRequest[], opts: RequestOptions = {}): Promise<BatchResult[]> {
    const withIds = events.map((e) => (e.id ? e : { ...e, id: newEventID() }));
    const out = await this.t.json<Schemas["BatchOutputBody"]>("POST", "/api/v1/events/batch", { body: { events: withIds }, idempotent: true, ...opts });
    return out.results;
  }
  /** One event, with its deliveries. */
  get(id: string, opts?: RequestOptions): Promise<EventWithDeliveries> {
    return this.t.json("GET", `/api/v1/events/${seg(id)}`, opts);
  }
}

/** The delivery log: /api/v1/deliveries. */
export class Deliveries {
  constructor(private readonly t: Transport) {}
  /** A page of deliveries, newest first. */
  list(query?: ListQuery<"list-deliveries">, opts?: RequestOptions): Promise<Page<Delivery>> {
    return this.t.page("/api/v1/deliveries", query, opts);
  }
  /** Every delivery matching query, page after page. */
  all(query?: ListQuery<"list-deliveries">, opts?: RequestOptions): AsyncGenerator<Delivery> {
    return each(this.list(query, opts));
  }
  /** One delivery, with its latest attempts. */
  get(id: string, opts?: RequestOptions): Promise<Delivery> {
    return this.t.json("GET", `/api/v1/deliveries/${seg(id)}`, opts);
  }
  /** A page of every attempt kept, newest first. */
  attempts(id: string, query?: ListQuery<"list-delivery-attempts">, opts?: RequestOptions): Promise<Page<Attempt>> {
    return this.t.page(`/api/v1/deliveries/${seg(id)}/attempts`, query, opts);
  }
  /** Gives up on a pending delivery: no more attempts. Returns the delivery. */
  skip(id: string, opts?: RequestOptions): Promise<Delivery> {
    return this.t.json("POST", `/api/v1/deliveries/${seg(id)}/skip`, opts);
  }
  /** Sends the delivery again now. */
  retry(id: string, opts?: RequestOptions): Promise<Delivery> {
    return this.t.json("POST", `/api/v1/deliveries/${seg(id)}/retry`, opts);
  }
}

/** The event catalog: /api/v1/event-types. */
export class EventTypes {
  constructor(private readonly t: Transport) {}
  /** Every event type, with its JSON Schema and sample. */
  list(opts?: RequestOptions): Promise<EventType[]> {
    return this.t.json("GET", "/api/v1/event-types", opts);
  }
  /** Adds an event type. */
  create(body: CreateEventTypeRequest, opts?: RequestOptions): Promise<EventType> {
    return this.t.json("POST", "/api/v1/event-types", { body, ...opts });
  }
}

/** Tenants: /api/v1/tenants (admin, but rotateKey also the tenant itself). */
export class Tenants {
  constructor(private readonly t: Transport) {}
  /** Creates a tenant; the answer holds its API key, shown once. */
  create(body: Schemas["CreateTenantInputBody"], opts?: RequestOptions): Promise<CreatedTenant> {
    return this.t.json("POST", "/api/v1/tenants", { body, ...opts });
  }
  /** Every tenant. */
  list(opts?: RequestOptions): Promise<Tenant[]> {
    return this.t.json("GET", "/api/v1/tenants", opts);
  }
  /** One tenant. */
  get(id: string, opts?: RequestOptions): Promise<Tenant> {
    return this.t.json("GET", `/api/v1/tenants/${seg(id)}`, opts);
  }
  /** Changes the fields given. */
  update(id: string, body: Schemas["UpdateTenantInputBody"], opts?: RequestOptions): Promise<Tenant> {
    return this.t.json("PATCH", `/api/v1/tenants/${seg(id)}`, { body, ...opts });
  }
  /** Deletes the tenant with its webhooks. */
  async delete(id: string, opts?: RequestOptions): Promise<void> {
    await this.t.json("DELETE", `/api/v1/tenants/${seg(id)}`, opts);
  }
  /** A new API key, shown once; the old one works for the grace period. */
  rotateKey(id: string, body: Schemas["RotateKeyInputBody"] = {}, opts?: RequestOptions): Promise<Schemas["RotatedKey"]> {
    return this.t.json("POST", `/api/v1/tenants/${seg(id)}/rotate-key`, { body, ...opts });
  }
  /** A one-time link that signs the tenant in to its portal. */
  portalLink(id: string, body: Schemas["CreatePortalLinkInputBody"] = {}, opts?: RequestOptions): Promise<PortalLink> {
    return this.t.json("POST", `/api/v1/tenants/${seg(id)}/portal-links`, { body, ...opts });
  }
}

/** Portal links: one-time URLs into a tenant's portal. */
export class PortalLinks {
  constructor(private readonly t: Transport) {}
  /** A one-time link that signs tenant `tenantId` in to its portal (default for 15 minutes). */
  create(tenantId: string, body: Schemas["CreatePortalLinkInputBody"] = {}, opts?: RequestOptions): Promise<PortalLink> {
    return this.t.json("POST", `/api/v1/tenants/${seg(tenantId)}/portal-links`, { body, ...opts });
  }
}

interface Call extends RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Whether repeating the request after a network error is safe. */
  idempotent?: boolean;
}

/** Transport sends requests: auth, JSON, retries, errors. */
class Transport {
  readonly #base: string;
  readonly #key: string;
  readonly #maxRetries: number;
  readonly #maxDelay: number;
  readonly #timeout: number;
  readonly #fetch: typeof fetch;

  constructor(o: HeraldOptions) {
    this.#base = o.baseUrl.replace(/\/+$/, "");
    this.#key = o.apiKey;
    this.#maxRetries = o.maxRetries ?? 3;
    this.#maxDelay = o.maxRetryDelayMs ?? 30_000;
    this.#timeout = o.timeoutMs ?? 30_000;
    const f = o.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new TypeError("Herald: this runtime has no fetch; pass options.fetch");
    this.#fetch = f.bind(globalThis);
  }

  async json<T>(method: string, path: string, call: Call = {}): Promise<T> {
    const res = await this.send(method, path, call);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  async page<T>(path: string, query: object | undefined, opts: RequestOptions = {}): Promise<Page<T>> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null) qs.set(k, String(v));
    const q = qs.toString();
    return this.pageAt<T>(q ? `${path}?${q}` : path, opts);
  }

  async pageAt<T>(pathAndQuery: string, opts: RequestOptions): Promise<Page<T>> {
    const res = await this.send("GET", pathAndQuery, opts);
    const items = (await res.json()) as T[];
    const total = res.headers.get("X-Total-Count");
    const next = nextLink(res.headers.get("Link"), this.#base);
    return {
      items,
      total: total === null ? undefined : Number(total),
      truncated: res.headers.get("X-Page-Truncated") === "true",
      next: () => (next === undefined ? undefined : this.pageAt<T>(next, opts)),
    };
  }

  async send(method: string, path: string, call: Call): Promise<Response> {
    const request = `${method} ${path.split("?")[0]}`;
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.#key}`,
      Accept: "application/json",
      ...call.headers,
    };
    let body: string | undefined;
    if (call.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(call.body);
    }
    const safe = call.idempotent || method === "GET" || method === "PUT" || method === "DELETE";
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        // Redirects are not followed: they would carry the API key to another address.
        res = await this.#fetch(this.#base + path, { method, headers, body, redirect: "manual", signal: this.#signal(call.signal) });
      } catch (err) {
        if (call.signal?.aborted) throw err;
        if (safe && attempt < this.#maxRetries) {
          await sleep(this.#backoff(attempt, undefined), call.signal);
          continue;
        }
        throw new HeraldError({ status: 0, code: "network", message: `${request}: ${(err as Error)?.message ?? err}`, request, cause: err });
      }
      if (res.type === "opaqueredirect" || (res.status >= 300 && res.status < 400)) {
        await res.body?.cancel().catch(() => {});
        const to = res.headers.get("Location");
        throw new HeraldError({
          status: res.status,
          code: "REDIRECT",
          message: `${request}: ${res.status} redirect${to ? ` to ${to}` : ""} not followed, as it would carry the API key there: is baseUrl Herald's own address?`,
          request,
        });
      }
      if (res.ok) return res;
      const retryAfter = parseRetryAfter(res.headers.get("Retry-After"));
      if ((res.status === 429 || res.status === 503) && attempt < this.#maxRetries) {
        await res.body?.cancel().catch(() => {});
        await sleep(this.#backoff(attempt, retryAfter), call.signal);
        continue;
      }
      throw await errorFrom(res, request, retryAfter);
    }
  }

  #signal(user: AbortSignal | undefined): AbortSignal | undefined {
    const signals = [user, this.#timeout > 0 ? AbortSignal.timeout(this.#timeout) : undefined].filter((s) => s !== undefined);
    if (signals.length <= 1) return signals[0];
    if (typeof AbortSignal.any === "function") return AbortSignal.any(signals);
    const both = new AbortController(); // runtimes before AbortSignal.any
    for (const s of signals) s.addEventListener("abort", () => both.abort(s.reason), { once: true });
    return both.signal;
  }

  /** How long to wait before retry attempt+1: Retry-After, or exponential with jitter. */
  #backoff(attempt: number, retryAfterSeconds: number | undefined): number {
    if (retryAfterSeconds !== undefined) return Math.min(retryAfterSeconds * 1000, this.#maxDelay);
    const base = Math.min(500 * 2 ** attempt, this.#maxDelay);
    return base / 2 + Math.random() * (base / 2);
  }
}

async function errorFrom(res: Response, request: string, retryAfter: number | undefined): Promise<HeraldError> {
  const text = await res.text().catch(() => "");
  let body: ErrorBody | undefined;
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === "object" && typeof parsed.error === "string") body = parsed;
  } catch {
    // not JSON: a proxy's page, say
  }
  const message = body
    ? `${request}: ${res.status} ${body.error}${body.details ? ` (${body.details})` : ""}`
    : `${request}: ${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ""}`;
  return new HeraldError({
    status: res.status,
    code: body?.code ?? `HTTP_${res.status}`,
    message,
    details: body?.details ?? "",
    body,
    request,
    retryAfter,
  });
}

/** parseRetryAfter reads Retry-After, seconds or an HTTP date, as seconds. */
function parseRetryAfter(v: string | null): number | undefined {
  if (v === null || v.trim() === "") return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000);
}

/** nextLink returns the path and query of the Link header's rel="next", or undefined. */
function nextLink(link: string | null, base: string): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(",")) {
    const m = /<([^>]*)>\s*;(.*)/.exec(part.trim());
    if (m && /rel="?next"?/.test(m[2]!)) {
      const u = new URL(m[1]!, base + "/");
      return u.pathname + u.search;
    }
  }
  return undefined;
}

async function* each<T>(first: Promise<Page<T>>): AsyncGenerator<T> {
  let page: Page<T> | undefined = await first;
  while (page) {
    yield* page.items;
    page = await page.next();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** seg escapes one path segment. */
function seg(s: string): string {
  return encodeURIComponent(s);
}

function newIdempotencyKey(): string {
  return globalThis.crypto.randomUUID();
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** newEventID returns "evt_" and a ULID, the shape of Herald's own event ids. */
function newEventID(): string {
  let time = Date.now();
  let ts = "";
  for (let i = 0; i < 10; i++) {
    ts = crockford[time % 32] + ts;
    time = Math.floor(time / 32);
  }
  const rnd = globalThis.crypto.getRandomValues(new Uint8Array(16));
  let r = "";
  for (let i = 0; i < 16; i++) r += crockford[rnd[i]! % 32];
  return "evt_" + ts + r;
}
