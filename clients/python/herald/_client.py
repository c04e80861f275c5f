"""The producing side: a client of Herald's REST API."""

import email.utils
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from ._errors import HeraldError
from ._version import __version__

__all__ = ["Client", "Page"]

# Methods the server may safely see twice: a retry of one that failed on its way back
# changes nothing.
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuses redirects: the API never answers with one, and following it would send
    the API key to wherever it points (and turn a POST into a GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises the 3xx as an HTTPError


_opener = urllib.request.build_opener(_NoRedirect)


class Page(list):
    """One page of a list: the items, with ``total`` (how many match across all pages,
    from X-Total-Count; None when the server did not say), ``truncated`` (the page
    stopped early at the server's 1 MiB page budget) and ``next_url`` (the next page,
    from the Link header; None on the last)."""

    def __init__(self, items, total=None, truncated=False, next_url=None):
        super().__init__(items)
        self.total = total
        self.truncated = truncated
        self.next_url = next_url


class Client:
    """A client of the Herald API at base_url (``http://127.0.0.1:8080``), with an API
    key: the admin key publishes and manages everything, a tenant key sees its own
    tenant's webhooks, deliveries and events.

    Its resources are ``webhooks``, ``events``, ``deliveries``, ``event_types`` and
    ``tenants``; each method returns the API's JSON answer as dicts and lists, and raises
    HeraldError when the API refuses the request or cannot be reached.

    Retries are safe: a 429 (rate limited, nothing done) is retried for every request;
    a 503 or a network failure only where repeating cannot do the work twice: GET, PUT,
    DELETE, and publish, which sends one Idempotency-Key per call, the same on each
    retry. Between tries it waits the answer's Retry-After, or an exponential backoff
    with jitter from backoff seconds, never more than max_backoff; after max_retries
    retries it raises the last error. timeout bounds each try, in seconds.
    """

    def __init__(self, base_url, api_key, *, timeout=30.0, max_retries=3, backoff=0.5, max_backoff=30.0, user_agent=None):
        if not base_url or "://" not in base_url:
            raise ValueError("base_url is the server's URL, e.g. http://127.0.0.1:8080, not %r" % (base_url,))
        if not api_key:
            raise ValueError("api_key is empty: give the admin key or a tenant's key")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.user_agent = user_agent or "herald-python/" + __version__
        self.webhooks = Webhooks(self)
        self.events = Events(self)
        self.deliveries = Deliveries(self)
        self.event_types = EventTypes(self)
        self.tenants = Tenants(self)

    def __repr__(self):
        return "Client(%r)" % self.base_url  # never the key

    def request(self, method, path, *, body=None, params=None, headers=None, retry_unsafe=False):
        """Send one API request and return its decoded JSON answer (a Page for a list,
        None for an empty answer). path is relative to base_url (``/api/v1/…``) or a full
        URL on it, such as a Page's next_url. retry_unsafe lets a 503 or a network
        failure be retried for a method that is not idempotent by itself; publish sets
        it because of its Idempotency-Key."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        if params:
            query = urllib.parse.urlencode({k: _query_value(v) for k, v in params.items() if v is not None}, doseq=True)
            if query:
                url += ("&" if "?" in url else "?") + query
        data = None
        send = {
            "Authorization": "Bearer " + self._api_key,
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            send["Content-Type"] = "application/json"
        send.update(headers or {})
        safe = retry_unsafe or method in _IDEMPOTENT

        tries = 0
        while True:
            tries += 1
            try:
                return self._once(method, url, data, send)
            except HeraldError as err:
                retryable = err.status == 429 or (safe and (err.status == 503 or err.status == 0))
                if not retryable or tries > self.max_retries:
                    raise
                time.sleep(self._delay(tries, err.retry_after))

    def _once(self, method, url, data, headers):
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with _opener.open(req, timeout=self.timeout) as resp:
                status, raw, head = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            with e:
                raw = e.read()
            raise HeraldError.from_response(e.code, raw, _retry_after(e.headers.get("Retry-After"))) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise HeraldError(0, "NETWORK", "could not reach %s: %s" % (self.base_url, reason)) from None
        if not raw:
            return None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise HeraldError(status, "INTERNAL", "the server answered %d with a body that is not JSON" % status, raw[:200].decode("utf-8", "replace")) from None
        if isinstance(answer, list):
            total = head.get("X-Total-Count")
            return Page(
                answer,
                total=int(total) if total and total.isdigit() else None,
                truncated=head.get("X-Page-Truncated") == "true",
                next_url=_next_link(head.get_all("Link") or [], url),
            )
        return answer

    def _delay(self, tries, retry_after):
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff)
        exp = self.backoff * (2 ** (tries - 1))
        return min(exp * (0.5 + random.random() / 2), self.max_backoff)

    def paginate(self, path, params=None):
        """Iterate over every item of a list, page after page: following the next link
        where the list gives one, else asking for the next page number until X-Total-Count
        items have come."""
        params = dict(params or {})
        page = self.request("GET", path, params=params)
        number, seen = params.get("page") or 1, 0
        while True:
            yield from page
            seen += len(page)
            if page.next_url:
                page = self.request("GET", page.next_url)
            elif page and page.total is not None and seen < page.total and "offset" not in params:
                number += 1
                page = self.request("GET", path, params=dict(params, page=number))
            else:
                return


def _query_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def _retry_after(value):
    """Retry-After in seconds: a number of seconds or an HTTP date; None when absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _next_link(values, base):
    """The rel="next" target of Link header values, resolved against base."""
    for value in values:
        for part in value.split(","):
            target, _, params = part.partition(";")
            target = target.strip()
            if target.startswith("<") and target.endswith(">") and 'rel="next"' in params.replace(" ", ""):
                return urllib.parse.urljoin(base, target[1:-1])
    return None


def _q(s):
    """s as one path segment."""
    return urllib.parse.quote(str(s), safe="")


def _fields(**kw):
    """The keyword arguments that were given (not None)."""
    return {k: v for k, v in kw.items() if v is not None}


class _Resource:
    def __init__(self, client):
        self._c = client


class Webhooks(_Resource):
    """Endpoint registrations: ``/api/v1/webhooks``."""

    def create(self, *, name, url, events=None, format=None, tenant_id=None, **fields):
        """Register an endpoint and return it with its signing ``secret`` (or, for
        ``signing="ed25519"``, its ``public_key``). Herald pings it at once. Other
        fields of the API (``description``, ``headers``, ``signing``, ``secret``,
        ``rate_limit``, ``filter``, ``channels``…) pass through as keywords."""
        body = _fields(url=url, name=name, events=events, format=format, tenant_id=tenant_id)
        body.update(fields)
        return self._c.request("POST", "/api/v1/webhooks", body=body)

    def list(self, *, page=None, per_page=None, tenant_id=None, failing_first=None):
        """One page of webhooks, newest first (a Page: iterate it, read .total)."""
        return self._c.request("GET", "/api/v1/webhooks", params=_fields(page=page, per_page=per_page, tenant_id=tenant_id, failing_first=failing_first))

    def iter(self, **params):
        """Every webhook, page after page."""
        return self._c.paginate("/api/v1/webhooks", _fields(**params))

    def get(self, webhook_id):
        """The webhook, with its health."""
        return self._c.request("GET", "/api/v1/webhooks/" + _q(webhook_id))

    def update(self, webhook_id, **fields):
        """Change the fields given (PATCH), e.g. ``update(id, enabled=True)``; the others
        stay. Returns the webhook."""
        return self._c.request("PATCH", "/api/v1/webhooks/" + _q(webhook_id), body=fields)

    def replace(self, webhook_id, **fields):
        """Replace the webhook's settings whole (PUT). Returns the webhook."""
        return self._c.request("PUT", "/api/v1/webhooks/" + _q(webhook_id), body=fields)

    def delete(self, webhook_id):
        """Delete the webhook; its pending deliveries are not sent."""
        self._c.request("DELETE", "/api/v1/webhooks/" + _q(webhook_id))

    def test(self, webhook_id, event_type=None):
        """Send a ping now (or the catalog's sample of event_type) to this endpoint
        only, and return how it went: ``success``, ``status_code``, ``error``…"""
        return self._c.request("POST", "/api/v1/webhooks/%s/test" % _q(webhook_id), body=_fields(event_type=event_type))

    def reveal_secret(self, webhook_id):
        """The webhook's signing secret (and the previous one while a rotation's grace
        lasts), or an ed25519 webhook's public key. The server logs the reveal."""
        return self._c.request("POST", "/api/v1/webhooks/%s/reveal-secret" % _q(webhook_id), body={})

    def rotate_secret(self, webhook_id, *, grace_period_seconds=None, secret=None):
        """A new signing secret; the old one keeps signing too for grace_period_seconds
        (the server's default is 24 h). Returns the new ``secret`` (or ``public_key``)."""
        return self._c.request("POST", "/api/v1/webhooks/%s/rotate-secret" % _q(webhook_id), body=_fields(grace_period_seconds=grace_period_seconds, secret=secret))

    rotate = rotate_secret

    def recover(self, webhook_id, *, since=None, until=None):
        """Requeue the webhook's failed deliveries created in [since, until) (RFC 3339
        strings or datetimes; default the last 24 h). Returns ``{"requeued": N}``."""
        return self._c.request("POST", "/api/v1/webhooks/%s/recover" % _q(webhook_id), body=_fields(since=_iso(since), until=_iso(until)))

    def replay(self, webhook_id, *, since, until=None, types=None, only_failed=None):
        """Send the webhook again the events published in [since, until) (RFC 3339
        strings or datetimes; until defaults to now), only of types if given, only
        those whose delivery failed if only_failed. Returns ``{"replayed", "skipped"}``."""
        body = _fields(since=_iso(since), until=_iso(until), types=types, only_failed=only_failed)
        return self._c.request("POST", "/api/v1/webhooks/%s/replay" % _q(webhook_id), body=body)

    def deliveries(self, webhook_id, **params):
        """One page of the webhook's delivery log; params are the API's filters
        (``status``, ``event_type``, ``event_id``, ``since``, ``until``, ``page``,
        ``per_page``)."""
        return self._c.request("GET", "/api/v1/webhooks/%s/deliveries" % _q(webhook_id), params=params)

    def event_types(self):
        """The event types a webhook may subscribe to."""
        return self._c.request("GET", "/api/v1/webhooks/events")


class Events(_Resource):
    """Publishing: ``/api/v1/events``."""

    def publish(self, *, type, data, tenant_id=None, id=None, timestamp=None, idempotency_key=None, **fields):
        """Publish one event and return ``{"id", "deliveries"}``: Herald stores it with
        one delivery per subscribed webhook of its tenant and sends them. data must
        match the type's schema. The call sends an Idempotency-Key (idempotency_key, or
        a new one per call) and repeats it on every retry, so a retried publish is
        stored once. Other fields of the API (``channels``, ``ordering_key``…) pass
        through as keywords."""
        body = _fields(type=type, data=data, tenant_id=tenant_id, id=id, timestamp=_iso(timestamp))
        body.update(fields)
        key = idempotency_key or "py-" + uuid.uuid4().hex
        return self._c.request("POST", "/api/v1/events", body=body, headers={"Idempotency-Key": key}, retry_unsafe=True)

    def publish_batch(self, events):
        """Publish up to 1000 events (dicts as for publish) in one transaction and
        return one result per event, in order: ``{"status": 202, "id", "deliveries"}``,
        200 for a repeat of an earlier ``id``, or the error of a refused one. The batch
        endpoint takes no Idempotency-Key: it is retried after a 503 or a network
        failure only when every event has its own ``id``, which makes a repeat harmless."""
        events = [dict(e) for e in events]
        for e in events:
            if "timestamp" in e:
                e["timestamp"] = _iso(e["timestamp"])
        all_ids = bool(events) and all(e.get("id") for e in events)
        answer = self._c.request("POST", "/api/v1/events/batch", body={"events": events}, retry_unsafe=all_ids)
        return answer["results"]

    def get(self, event_id):
        """The event and its deliveries (the newest 100)."""
        return self._c.request("GET", "/api/v1/events/" + _q(event_id))


class Deliveries(_Resource):
    """The delivery log: ``/api/v1/deliveries``."""

    def list(self, **params):
        """One page of deliveries; params are the API's filters (``status``,
        ``webhook_id``, ``event_id``, ``event_type``, ``since``, ``until``, ``page``,
        ``per_page``)."""
        return self._c.request("GET", "/api/v1/deliveries", params=params)

    def iter(self, **params):
        """Every delivery that matches, page after page."""
        return self._c.paginate("/api/v1/deliveries", params)

    def get(self, delivery_id):
        """The delivery with its latest attempts."""
        return self._c.request("GET", "/api/v1/deliveries/" + _q(delivery_id))

    def attempts(self, delivery_id, **params):
        """One page of the delivery's attempts, newest first."""
        return self._c.request("GET", "/api/v1/deliveries/%s/attempts" % _q(delivery_id), params=params)

    def retry(self, delivery_id):
        """Send the delivery again now; returns the delivery."""
        return self._c.request("POST", "/api/v1/deliveries/%s/retry" % _q(delivery_id))


    def skip(self, delivery_id):
        """Give up on a pending delivery: it is not attempted again. Returns the
        delivery."""
        return self._c.request("POST", "/api/v1/deliveries/%s/skip" % _q(delivery_id))


class EventTypes(_Resource):
    """The catalog: ``/api/v1/event-types``."""

    def list(self):
        """Every event type, with its JSON Schema and sample."""
        return self._c.request("GET", "/api/v1/event-types")

    def create(self, *, type, schema, description=None, sample=None):
        """Add event type ``type`` with its JSON Schema (a dict, draft 2020-12), a
        description and a sample of its data, which must match the schema."""
        body = _fields(type=type, schema=schema, description=description, sample=sample)
        return self._c.request("POST", "/api/v1/event-types", body=body)


class Tenants(_Resource):
    """Tenants, each with its own API key: ``/api/v1/tenants`` (admin)."""

    def create(self, *, name, id=None, notify_email=None, branding=None):
        """Create a tenant; the answer holds its ``api_key``, shown only now."""
        return self._c.request("POST", "/api/v1/tenants", body=_fields(name=name, id=id, notify_email=notify_email, branding=branding))

    def list(self, **params):
        """One page of tenants."""
        return self._c.request("GET", "/api/v1/tenants", params=params)

    def get(self, tenant_id):
        """The tenant."""
        return self._c.request("GET", "/api/v1/tenants/" + _q(tenant_id))

    def update(self, tenant_id, **fields):
        """Change the fields given (``name``, ``notify_email``, ``branding``)."""
        return self._c.request("PATCH", "/api/v1/tenants/" + _q(tenant_id), body=fields)

    def delete(self, tenant_id):
        """Delete the tenant and everything it owns."""
        self._c.request("DELETE", "/api/v1/tenants/" + _q(tenant_id))

    def rotate_key(self, tenant_id, *, grace_period_seconds=None):
        """A new API key for the tenant (shown only now); the old one keeps working
        for grace_period_seconds (default 0: it stops at once)."""
        return self._c.request("POST", "/api/v1/tenants/%s/rotate-key" % _q(tenant_id), body=_fields(grace_period_seconds=grace_period_seconds))

    def portal_link(self, tenant_id, *, ttl=None, read_only=None, return_url=None):
        """A single-use sign-in link to the tenant's portal: ``{"url", "expires_at"}``.
        ttl is a duration such as ``"15m"`` (at most 24h)."""
        return self._c.request("POST", "/api/v1/tenants/%s/portal-links" % _q(tenant_id), body=_fields(ttl=ttl, read_only=read_only, return_url=return_url))


def _iso(value):
    """A datetime as RFC 3339 (UTC when naive is not meant: give aware datetimes);
    strings and None as they are."""
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):
        if getattr(value, "tzinfo", None) is None:
            raise ValueError("give a timezone-aware datetime (datetime.now(timezone.utc)), not a naive one")
        return value.isoformat()
    raise TypeError("a time is an RFC 3339 string or a datetime, not %s" % type(value).__name__)
