"""Herald's Python client: publish events and manage webhooks through the API, and
verify the webhooks Herald delivers. Standard library only.

Producing::

    from herald import Client
    c = Client("http://127.0.0.1:8080", api_key)
    c.webhooks.create(name="alerts", url="https://example.com/hooks", events=["*"], format="standard")
    c.events.publish(type="drift.detected", data={...})

Receiving::

    import herald
    envelope = herald.verify(raw_body, request.headers, secret, format="standard")
"""

from ._client import Client, Page
from ._errors import HeraldError
from ._verify import (
    DEFAULT_TOLERANCE,
    FORMATS,
    BodyChanged,
    InvalidPayload,
    InvalidSecret,
    MissingHeader,
    NoSignature,
    SignatureMismatch,
    TimestampOutOfTolerance,
    UnknownFormat,
    VerificationError,
    WrongFormat,
    WrongSecret,
    verify,
)
from ._version import __version__

#: A stale (or far-future) standard webhook-timestamp: another name for
#: TimestampOutOfTolerance.
StaleTimestamp = TimestampOutOfTolerance

__all__ = [
    "Client",
    "Page",
    "HeraldError",
    "verify",
    "FORMATS",
    "DEFAULT_TOLERANCE",
    "VerificationError",
    "NoSignature",
    "WrongFormat",
    "MissingHeader",
    "TimestampOutOfTolerance",
    "StaleTimestamp",
    "SignatureMismatch",
    "WrongSecret",
    "BodyChanged",
    "InvalidSecret",
    "UnknownFormat",
    "InvalidPayload",
    "__version__",
]
