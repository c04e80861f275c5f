/** The body of every error the Herald API answers: `{"error","code","details"}`. */
export interface ErrorBody {
  /** What went wrong, safe to show a user. */
  error: string;
  /** The machine-readable code, such as `VALIDATION_FAILED`, `NOT_FOUND`, `RATE_LIMITED`. */
  code: string;
  /** More about the error: the field, JSON pointer or limit concerned; may be empty. */
  details: string;
  [key: string]: unknown;
}

/**
 * HeraldError is every error the API client throws for an answer outside 2xx, and for a
 * request that never got one (status 0, code `network`). It carries the API's error body.
 */
export class HeraldError extends Error {
  /** The HTTP status, or 0 when no answer came. */
  readonly status: number;
  /**
   * The API's error code (`VALIDATION_FAILED`, `NOT_FOUND`, `CONFLICT`, `UNAUTHORIZED`,
   * `RATE_LIMITED`, …), `network` when no answer came, `HTTP_<status>` for an answer that
   * was not the API's error body.
   */
  readonly code: string;
  /** The field, JSON pointer or limit concerned, when the API names one; "" otherwise. */
  readonly details: string;
  /** The error body as the API sent it (undefined when it was not JSON). */
  readonly body: ErrorBody | undefined;
  /** The method and path of the request. */
  readonly request: string;
  /** The answer's Retry-After in seconds, when it had one (429, 503). */
  readonly retryAfter: number | undefined;

  constructor(init: {
    status: number;
    message: string;
    code: string;
    details?: string;
    body?: ErrorBody;
    request: string;
    retryAfter?: number;
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "HeraldError";
    this.status = init.status;
    this.code = init.code;
    this.details = init.details ?? "";
    this.body = init.body;
    this.request = init.request;
    this.retryAfter = init.retryAfter;
  }
}

/**
 * Why a delivery failed verification: one value per error class below, the same names the
 * Go, Python and TypeScript receivers use.
 */
export type VerificationReason =
  | "no_signature"
  | "wrong_format"
  | "missing_header"
  | "stale_timestamp"
  | "signature_mismatch"
  | "wrong_secret"
  | "body_changed"
  | "invalid_payload";

/**
 * WebhookVerificationError is the base of every error `Webhook.verify` throws for a
 * request that is not a genuine, intact, timely Herald delivery. `reason` says which;
 * `instanceof` the subclasses tells them apart too. No message contains a secret.
 */
export class WebhookVerificationError extends Error {
  /** Why the request was refused. */
  readonly reason: VerificationReason;
  constructor(reason: VerificationReason, message: string) {
    super("webhook: " + message);
    this.name = "WebhookVerificationError";
    this.reason = reason;
  }
}

/** The request carries no signature header of the verifier's format. */
export class MissingSignatureError extends WebhookVerificationError {
  constructor(message: string) {
    super("no_signature", message);
    this.name = "MissingSignatureError";
  }
}

/**
 * The request carries no signature header of the verifier's format but another format's;
 * the message names the format it looks like.
 */
export class WrongFormatError extends WebhookVerificationError {
  constructor(message: string) {
    super("wrong_format", message);
    this.name = "WrongFormatError";
  }
}

/** A standard request's `webhook-id` or `webhook-timestamp` is absent or malformed. */
export class MissingHeaderError extends WebhookVerificationError {
  constructor(message: string) {
    super("missing_header", message);
    this.name = "MissingHeaderError";
  }
}

/**
 * A standard request's `webhook-timestamp` is further from now than the tolerance, in the
 * past (a replay, or a clock far behind) or the future.
 */
export class StaleTimestampError extends WebhookVerificationError {
  constructor(message: string) {
    super("stale_timestamp", message);
    this.name = "StaleTimestampError";
  }
}

/**
 * No signature of the request matches any configured secret. When the request has a
 * `Content-Digest` header the more specific `WrongSecretError` or `BodyChangedError`
 * (both subclasses) says which side is wrong.
 */
export class SignatureMismatchError extends WebhookVerificationError {
  constructor(message: string, reason: "signature_mismatch" | "wrong_secret" | "body_changed" = "signature_mismatch") {
    super(reason, message);
    this.name = "SignatureMismatchError";
  }
}

/** The signature does not match, but the body matches its `Content-Digest`: the secret is wrong. */
export class WrongSecretError extends SignatureMismatchError {
  constructor(message: string) {
    super(message, "wrong_secret");
    this.name = "WrongSecretError";
  }
}

/**
 * The signature does not match and neither does the body's `Content-Digest`: the body was
 * changed after it was sent (re-serialised, trimmed, re-encoded).
 */
export class BodyChangedError extends SignatureMismatchError {
  constructor(message: string) {
    super(message, "body_changed");
    this.name = "BodyChangedError";
  }
}

/** The verified body is not JSON. */
export class InvalidPayloadError extends WebhookVerificationError {
  constructor(message: string) {
    super("invalid_payload", message);
    this.name = "InvalidPayloadError";
  }
}

/**
 * A secret given to `Webhook` is malformed or of a kind its format does not use, or the
 * format is unknown. Thrown by the constructor: it is a configuration mistake, not a bad
 * request.
 */
export class InvalidSecretError extends Error {
  constructor(message: string) {
    super("webhook: " + message);
    this.name = "InvalidSecretError";
  }
}
