"""What every answer of /graphql must satisfy, whatever was sent: the server never fails.

A server error is any of
  * an HTTP status of 500 or more (including 503 UNAVAILABLE: the fuzzer's load is small);
  * a body that is not JSON (a panic page, an empty body, HTML, plain text);
  * an error whose `extensions.code` is `INTERNAL` (a resolver or the database failed);
  * an error whose `extensions.code` is `UNAVAILABLE` (no database connection in time): it would
    be the expected answer only while an outage is injected, and the fuzz run injects none, so
    here it means a request starved the pool or the database failed.
No answer at all (connection reset, timeout) is a server error too; the callers report it.

Shared by the schemathesis hooks (hooks.py) and the raw-HTTP fuzzer (raw.py).
"""

from __future__ import annotations

import json
from typing import Any


def _errors_of(document: Any) -> list[Any]:
    """The `errors` entries of a response document, or of every result of a batch."""
    results = document if isinstance(document, list) else [document]
    found: list[Any] = []
    for result in results:
        if isinstance(result, dict) and isinstance(result.get("errors"), list):
            found.extend(result["errors"])
    return found


def refused_by_http_layer(status: int, headers: dict, body: bytes) -> bool:
    """A 4xx with no body and no `x-request-id`: actix-http refused the request before the
    application saw it (a request head over its 64 KiB limit, a NUL byte in a header). Not a
    server error, and nothing the application can answer in JSON; reported as a warning."""
    return 400 <= status < 500 and not body and "x-request-id" not in {k.lower() for k in headers}


def problems(status: int, body: bytes, *, method: str = "POST", headers: dict | None = None) -> list[str]:
    """The reasons this answer is a server error; empty when it is not one."""
    if headers is not None and refused_by_http_layer(status, headers, body):
        return []
    found: list[str] = []
    if status >= 500:
        found.append(f"HTTP {status}")
    if method.upper() == "HEAD":
        return found
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        found.append("the body is not JSON")
        return found
    if not isinstance(document, (dict, list)):
        found.append("the body is JSON but neither an object nor a batch array")
        return found
    for error in _errors_of(document):
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        # UNAVAILABLE fails too: the run injects no outage (no database or Redis stopped, no pool
        # squeezed), so nothing may be unavailable. A run that injected one would have to allow it.
        if code in ("INTERNAL", "UNAVAILABLE"):
            found.append(f"an error with extensions.code {code}: {json.dumps(error, ensure_ascii=False)}")
    return found


def warnings(status: int, body: bytes, headers: dict) -> list[str]:
    """Not server errors, but worth a look: requests refused by the HTTP layer (above)."""
    if refused_by_http_layer(status, headers, body):
        return [f"HTTP {status} with no body from the HTTP layer (the application never saw the request)"]
    return []


def shorten(text: str, limit: int = 4000) -> str:
    """At most `limit` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"
