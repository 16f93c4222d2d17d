"""Schemathesis hooks for Renkei (loaded through SCHEMATHESIS_HOOKS by fuzz.py).

* Strategies for the custom scalars `LocalDate` and `DateTime`: mostly valid values (to reach the
  resolvers), sometimes edge dates and strings that are not dates at all.
* Every request as one of several roles: RENKEI_FUZZ_TOKENS names a JSON file {subject: token};
  the role is chosen from the request itself (the same request always goes as the same role) and
  named in an `X-Fuzz-Role` header, so that a reported failure says whose token to mint.
* The check `renkei_no_server_error`: the invariants of invariants.py on every response.
* Answers counted per role: when RENKEI_FUZZ_COUNTS names a file, {role: answers} is written
  there as schemathesis exits, for fuzz.py to hold against its minimum per role.

A hook that raises is an error of schemathesis' run (exit status not 0), so the run fails.
"""

from __future__ import annotations

import atexit
import collections
import datetime as dt
import hashlib
import json
import os
import sys
import threading

import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import invariants  # noqa: E402

_odd_date_strings = st.sampled_from(
    [
        "",
        "2026-02-30",
        "2026-13-01",
        "0000-01-01",
        "9999-12-31",
        "-0001-01-01",
        "+275760-09-13",
        "2026-04-01T00:00:00Z",
        "20260401",
        "2026/04/01",
        "令和8年4月1日",
        "2026-04-01\u0000",
        "\u202e2026-04-01",
    ]
)
_dates = st.one_of(
    st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31)).map(str),
    st.dates().map(str),
    _odd_date_strings,
    st.text(max_size=30),
)
schemathesis.graphql.scalar("LocalDate", _dates.map(nodes.String))
schemathesis.graphql.scalar(
    "DateTime",
    st.one_of(
        st.datetimes(timezones=st.just(dt.timezone.utc)).map(lambda d: d.isoformat()),
        _odd_date_strings,
        st.text(max_size=30),
    ).map(nodes.String),
)


@schemathesis.check
def renkei_no_server_error(ctx, response, case):
    """No 5xx, always a JSON body, never an error with extensions.code INTERNAL."""
    found = invariants.problems(
        response.status_code, response.content or b"", method=case.method, headers=response.headers
    )
    if found:
        raise AssertionError("Renkei server error: " + "; ".join(invariants.shorten(p, 2000) for p in found))


_TOKENS: dict[str, str] = {}
if os.environ.get("RENKEI_FUZZ_TOKENS"):
    with open(os.environ["RENKEI_FUZZ_TOKENS"], encoding="utf-8") as _fh:
        _TOKENS = json.load(_fh)
_ROLES = sorted(_TOKENS)


@schemathesis.hook
def before_call(context, case, kwargs):
    """Sends the request as the role its own contents pick."""
    if not _ROLES:
        return
    body = case.body if isinstance(case.body, str) else repr(case.body)
    digest = hashlib.sha256(f"{case.operation.label}\0{body}".encode("utf-8", "surrogatepass")).digest()
    role = _ROLES[digest[0] % len(_ROLES)]
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {_TOKENS[role]}", "X-Fuzz-Role": role}


# Answers per role (schemathesis' workers are threads), written out when schemathesis exits.
_ANSWERED: collections.Counter[str] = collections.Counter()
_ANSWERED_LOCK = threading.Lock()


@schemathesis.hook
def after_call(context, case, response):
    """Counts the answer under the role that sent the request."""
    role = (case.headers or {}).get("X-Fuzz-Role", "(no role)")
    with _ANSWERED_LOCK:
        _ANSWERED[role] += 1


@atexit.register
def _write_counts() -> None:
    path = os.environ.get("RENKEI_FUZZ_COUNTS")
    if path:
        with _ANSWERED_LOCK, open(path, "w", encoding="utf-8") as fh:
            json.dump(dict(_ANSWERED), fh)
