"""The one error the API client raises."""

import json

__all__ = ["HeraldError"]

# The statuses each API error code is answered with (the root package's error.go): a
# status names its code when an answer did not come in the API's shape.
_STATUS_CODES = {
    400: "MALFORMED_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    410: "GONE",
    413: "PAYLOAD_TOO_LARGE",
    422: "VALIDATION_FAILED",
    429: "RATE_LIMITED",
    503: "UNAVAILABLE",
}

# How much of an answer not in the API's shape is kept, so a proxy's HTML page does not
# flood a log.
_MAX_FOREIGN_BODY = 200


class HeraldError(Exception):
    """A request the Herald API refused, or that did not reach it.

    status is the HTTP status (0 when no answer arrived: a refused connection, a
    timeout), code the API's machine-readable code (``"VALIDATION_FAILED"``,
    ``"NOT_FOUND"``, ``"RATE_LIMITED"``… or ``"NETWORK"`` when no answer arrived),
    message what went wrong, safe to show a user, and details the field, JSON pointer
    or limit concerned ("" when none). field_errors lists (location, message) pairs read
    from details for a request the API found invalid, e.g.
    ``[("body.url", "expected string to be RFC 3986 uri")]``.
    """

    def __init__(self, status, code, message, details="", retry_after=None):
        self.status = status
        self.code = code
        self.message = message
        self.details = details or ""
        self.retry_after = retry_after
        self.field_errors = _field_errors(code, message, self.details)
        super().__init__(str(self))

    def __str__(self):
        text = "herald: %s" % self.message
        if self.details and self.details not in self.message:
            text += ": " + self.details
        if self.status:
            text += " (%d %s)" % (self.status, self.code)
        else:
            text += " (%s)" % self.code
        return text

    def __repr__(self):
        return "HeraldError(status=%r, code=%r, message=%r, details=%r)" % (self.status, self.code, self.message, self.details)

    @classmethod
    def from_response(cls, status, body, retry_after=None):
        """The error an API answer with status and body (bytes) stands for. An answer
        not in the API's {"error", "code", "details"} shape did not come from Herald (a
        proxy, another server at that address): its code is its status's, its message
        names the status and its details hold the start of the body."""
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("code"), str) and parsed["code"]:
            message = parsed.get("error") if isinstance(parsed.get("error"), str) else ""
            details = parsed.get("details") if isinstance(parsed.get("details"), str) else ""
            return cls(status, parsed["code"], message or "the server answered %d" % status, details, retry_after)
        text = body.decode("utf-8", "replace").strip()
        if len(text) > _MAX_FOREIGN_BODY:
            text = text[:_MAX_FOREIGN_BODY] + "…"
        return cls(status, _STATUS_CODES.get(status, "INTERNAL"), "the server answered %d" % status, text, retry_after)


def _field_errors(code, message, details):
    if code != "VALIDATION_FAILED" or not details:
        return []
    out = []
    for item in details.split("; "):
        location, sep, problem = item.partition(": ")
        if sep and location and " " not in location:
            out.append((location, problem))
    if not out and " " not in details:
        out.append((details, message))  # details names the one field the message is about
    return out
