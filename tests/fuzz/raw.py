"""The raw-HTTP fuzzer: property-based (Hypothesis) requests to /graphql that schemathesis does not
send, and a fixed list of hand-written nasty ones.

* Documents built from the introspected schema: random root fields (queries and mutations), random
  selection sets with aliases, fragments, directives and `__typename`, arguments as literals or
  variables, of the right type (real ids, edge integers, long and odd strings, nulls) or the wrong
  one, and variables whose JSON values may not match their declared types at all.
* HTTP around them: malformed and truncated JSON, invalid UTF-8, wrong shapes, batches, every
  content type and `Accept`, odd and missing tokens, GET with odd parameters, other methods,
  bodies just under and over the size limit.

Every answer is held to invariants.py. A failing request is kept (the smallest one of its kind,
after Hypothesis shrinks it) with the response, and printed so that it can be replayed. An
exception of the fuzzer's own (a strategy, the client, Hypothesis) is kept with its traceback in
`Run.errors` and fails the run too: a fuzzer that crashes has not tested what it claims.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import time
import traceback
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import graphql
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyFailure

import invariants

# --------------------------------------------------------------------------------------------
# Requests, answers, failures
# --------------------------------------------------------------------------------------------


@dataclass
class Request:
    """One HTTP request to the server, as bytes on the wire (the token added when sent)."""

    label: str
    method: str = "POST"
    target: str = "/graphql"
    headers: dict[str, str | bytes] = field(default_factory=dict)
    body: bytes | None = None
    # The Authorization header: "token" (the role's bearer token), "none", or a literal value.
    auth: str | bytes = "token"
    # False for requests whose answer does not depend on the role (HTTP-level) or that are slow:
    # those are sent for the first role only.
    every_role: bool = True


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Failure:
    role: str
    request: Request
    problems: list[str]
    answer: Answer | None
    count: int = 1
    also: list[str] = field(default_factory=list)  # other roles that met the same failure


def merge(failures: list[Failure]) -> list[Failure]:
    """One entry per kind of failure and request label, naming every role that met it."""
    merged: dict[tuple, Failure] = {}
    for f in failures:
        key = (tuple(sorted(p.split(":")[0] for p in f.problems)), f.request.label)
        if key in merged:
            merged[key].also.append(f.role)
            merged[key].count += f.count
        else:
            merged[key] = f
    return list(merged.values())


class NoAnswer(Exception):
    """The server sent no HTTP answer (connection refused or reset, timeout)."""


class RequestFailed(Exception):
    """Raised in a property-based test for a request whose answer is a server error (check()
    has recorded it); any other exception out of a test is the fuzzer's own."""


def only_request_failures(e: BaseException) -> bool:
    """True for RequestFailed, and for Hypothesis' FlakyFailure made only of them (a failing
    request that passed when replayed: recorded the first time, so the run fails anyway)."""
    if isinstance(e, RequestFailed):
        return True
    return isinstance(e, FlakyFailure) and all(only_request_failures(inner) for inner in e.exceptions)


class Client:
    """A keep-alive HTTP/1.1 connection to the server under test (loopback only)."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0):
        parts = urllib.parse.urlsplit(base_url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"refusing to fuzz {base_url}: loopback addresses only")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.path = parts.path or "/graphql"
        self.token = token
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.sent = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def headers_for(self, req: Request) -> list[tuple[str, str | bytes]]:
        headers: list[tuple[str, str | bytes]] = []
        if req.auth == "token":
            headers.append(("Authorization", f"Bearer {self.token}"))
        elif req.auth != "none":
            headers.append(("Authorization", req.auth))
        headers.extend(req.headers.items())
        return headers

    def send(self, req: Request) -> Answer:
        target = req.target.replace("/graphql", self.path, 1) if req.target.startswith("/graphql") else req.target
        last: Exception | None = None
        # A keep-alive connection the server closed in between is retried once on a fresh one.
        for _ in range(2):
            conn = self._connection()
            try:
                conn.putrequest(req.method, target, skip_accept_encoding=True)
                for name, value in self.headers_for(req):
                    # Header values go out as UTF-8 bytes (http.client would insist on Latin-1).
                    conn.putheader(name, value.encode("utf-8") if isinstance(value, str) else value)
                if req.body is not None:
                    conn.putheader("Content-Length", str(len(req.body)))
                conn.endheaders(req.body)
                res = conn.getresponse()
                body = res.read()
                self.sent += 1
                answer = Answer(res.status, {k.lower(): v for k, v in res.getheaders()}, body)
                if res.will_close:
                    self.close()
                return answer
            except (OSError, http.client.HTTPException) as e:
                last = e
                self.close()
        raise NoAnswer(f"no answer: {type(last).__name__}: {last}")

    def alive(self) -> bool:
        try:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except (OSError, http.client.HTTPException):
            return False


def json_body(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def post(label: str, document: Any, **kw: Any) -> Request:
    headers = {"Content-Type": "application/json"}
    headers.update(kw.pop("headers", {}))
    return Request(label=label, method="POST", headers=headers, body=json_body(document), **kw)


def get(label: str, params: list[tuple[str, str]] | str, **kw: Any) -> Request:
    query = params if isinstance(params, str) else urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    return Request(label=label, method="GET", target=f"/graphql?{query}", **kw)


# --------------------------------------------------------------------------------------------
# What the run knows: the schema, and real ids to aim at
# --------------------------------------------------------------------------------------------


@dataclass
class Pool:
    """Real values from the seeded database, so that generated requests reach the resolvers."""

    organisations: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    cursors: list[str] = field(default_factory=list)
    kinds: dict[str, list[str]] = field(default_factory=dict)  # OrganisationKind -> ids

    def of_kind(self, *kinds: str) -> list[str]:
        return [i for k in kinds for i in self.kinds.get(k, [])] or self.organisations

    def ids(self) -> list[str]:
        return self.organisations + self.users or [str(uuid.uuid4())]


# The standard introspection query (graphql-core's, 9 levels of `ofType`), sent as a nasty request.
INTROSPECTION = graphql.get_introspection_query(descriptions=False)


def introspect(client: Client) -> graphql.GraphQLSchema:
    """The schema by introspection, shallow enough for GRAPHQL_MAX_DEPTH (3 levels of `ofType`
    cover every type of Renkei's schema, such as `[HospitalFunction!]!`)."""
    query = graphql.get_introspection_query(descriptions=False, type_depth=3)
    answer = client.send(post("introspection", {"query": query}))
    document = json.loads(answer.body)
    if "data" not in document or not document["data"]:
        raise SystemExit(f"introspection failed: HTTP {answer.status}: {answer.body[:2000]!r}")
    return graphql.build_client_schema(document["data"])


def collect_pool(client: Client, exclude_users: set[str]) -> Pool:
    """Organisation and user ids visible to the client (the national role sees all), and cursors."""
    pool = Pool()
    after = None
    # 20 organisations with up to 100 users each stay within GRAPHQL_MAX_COST (5000).
    for _ in range(200):
        query = (
            "query($after: String) { organisations(first: 20, after: $after) { "
            "edges { cursor node { id kind users(first: 100) { nodes { id } } } } pageInfo { hasNextPage endCursor } } }"
        )
        answer = client.send(post("collect ids", {"query": query, "variables": {"after": after}}))
        document = json.loads(answer.body)
        data = (document.get("data") or {}).get("organisations")
        if not data:
            # Without the real ids the run would fuzz mostly "not found": it fails instead.
            raise RuntimeError(f"collecting ids failed: HTTP {answer.status}: {answer.body[:1000]!r}")
        for edge in data["edges"]:
            pool.organisations.append(edge["node"]["id"])
            pool.kinds.setdefault(edge["node"]["kind"], []).append(edge["node"]["id"])
            pool.cursors.append(edge["cursor"])
            users = (edge["node"].get("users") or {}).get("nodes") or []
            pool.users.extend(u["id"] for u in users if u["id"] not in exclude_users)
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    return pool


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

NASTY_STRINGS = [
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\u0001\u0002\u0003\u0007\u0008\u000b\u000c\u001b\u007f",
    "\r\n\t",
    "%",
    "_",
    "\\",
    "%_\\%",
    "'",
    "''; DROP TABLE organisations; --",
    '" OR 1=1 --',
    "${jndi:ldap://127.0.0.1/a}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "東京都立病院",
    "ｶﾀｶﾅ",
    "\u202eevil\u202c",
    "\u200b\u200c\u200d\ufeff",
    "e\u0301\u0301\u0301\u0301",
    "😷🏥" * 50,
    "\U0010ffff",
    "\ufffd\ufffe\uffff",
    "a" * 201,
    "あ" * 5000,
    "x" * 20000,
    "null",
    "undefined",
    "NaN",
    "-1",
    "0",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "{00000000-0000-0000-0000-000000000000}",
    "urn:uuid:00000000-0000-0000-0000-000000000000",
    "1310000001",
    "13100000011",
    "131000000a",
]

INT_EDGES = [0, 1, -1, 2, 10, 13, 19, 20, 27, 47, 48, 99, 100, 101, 1000, 2**31 - 1, -(2**31)]
JSON_NUMBER_EDGES: list[Any] = [2**31, -(2**31) - 1, 2**53 + 1, 2**63, 2**64, 10**30, -0.0, 1.5, 1e308, -1e308, 1e-308]


def nasty_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NASTY_STRINGS),
        st.text(max_size=40),
        st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=300),
        st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=20),
        st.builds(lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(1, 3000)),
    )


def id_values(pool: Pool) -> st.SearchStrategy[str]:
    real = pool.ids()
    return st.one_of(
        st.sampled_from(real),
        st.sampled_from(real),
        st.uuids().map(str),
        st.sampled_from(real).map(str.upper),
        st.sampled_from(real).map(lambda s: s.replace("-", "")),
        st.sampled_from(real).map(lambda s: s + "\u0000"),
        st.sampled_from(real).map(lambda s: s[:-1]),
        nasty_text(),
    )


def cursor_values(pool: Pool) -> st.SearchStrategy[str]:
    def forge(key: str, ident: str) -> str:
        return base64.urlsafe_b64encode(f"{ident}{key}".encode()).decode().rstrip("=")

    return st.one_of(
        st.sampled_from(pool.cursors or ["x"]),
        st.builds(forge, nasty_text(), st.one_of(st.uuids().map(str), st.sampled_from(pool.ids()))),
        st.binary(max_size=80).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")),
        nasty_text(),
    )


def any_json(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from(JSON_NUMBER_EDGES + INT_EDGES),
        st.floats(allow_nan=False, allow_infinity=False),
        nasty_text(),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=10), inner, max_size=5)
        ),
        max_leaves=max_leaves,
    )


def _named(t: graphql.GraphQLType) -> graphql.GraphQLNamedType:
    return graphql.get_named_type(t)


@st.composite
def json_value_for(draw, t: graphql.GraphQLInputType, pool: Pool, right: bool = True, depth: int = 0) -> Any:
    """A JSON value for a variable of input type `t`: mostly fitting, sometimes not at all."""
    if not right or draw(st.integers(0, 15)) == 0:
        return draw(any_json())
    if isinstance(t, graphql.GraphQLNonNull):
        if draw(st.integers(0, 30)) == 0:
            return None
        return draw(json_value_for(t.of_type, pool, True, depth))
    if draw(st.integers(0, 6)) == 0:
        return None
    if isinstance(t, graphql.GraphQLList):
        if draw(st.booleans()) and depth < 3:
            return draw(json_value_for(t.of_type, pool, True, depth + 1))  # a single value, coerced
        return draw(st.lists(json_value_for(t.of_type, pool, True, depth + 1), max_size=6))
    return draw(_scalar_or_object(t, pool, depth, as_json=True))


@st.composite
def _scalar_or_object(draw, t: graphql.GraphQLNamedType, pool: Pool, depth: int, as_json: bool) -> Any:
    name = t.name
    if isinstance(t, graphql.GraphQLEnumType):
        values = list(t.values)
        return draw(st.one_of(st.sampled_from(values), st.sampled_from(values).map(str.lower), nasty_text()))
    if isinstance(t, graphql.GraphQLInputObjectType):
        fields = dict(t.fields)
        obj: dict[str, Any] = {}
        for fname, f in fields.items():
            required = isinstance(f.type, graphql.GraphQLNonNull)
            if (required and draw(st.integers(0, 20)) != 0) or draw(st.booleans()):
                obj[fname] = draw(json_value_for(f.type, pool, True, depth + 1))
        if draw(st.integers(0, 10)) == 0:
            obj[draw(st.text(min_size=1, max_size=12))] = draw(any_json(3))
        return obj
    if name == "ID":
        return draw(id_values(pool))
    if name == "Int":
        ints = st.one_of(st.sampled_from(INT_EDGES), st.integers(-(2**31), 2**31 - 1))
        return draw(ints if not as_json else st.one_of(ints, ints, st.sampled_from(JSON_NUMBER_EDGES)))
    if name == "Float":
        return draw(st.floats(allow_nan=False, allow_infinity=False))
    if name == "Boolean":
        return draw(st.booleans())
    if name == "String":
        if draw(st.integers(0, 4)) == 0 and pool.cursors:
            return draw(cursor_values(pool))
        return draw(nasty_text())
    if name in ("LocalDate", "DateTime"):
        return draw(
            st.one_of(
                st.dates().map(str),
                st.datetimes().map(lambda d: d.isoformat() + "Z"),
                st.sampled_from(["2026-02-30", "0000-01-01", "+275760-09-13", "2026-04-01T25:00:00Z", ""]),
                nasty_text(),
            )
        )
    return draw(any_json(4))


def gql_string(s: str, block: bool = False) -> str:
    if block and '"""' not in s and "\\" not in s:
        return '"""' + s + '"""'
    return json.dumps(s, ensure_ascii=False)


def to_literal(value: Any, t: graphql.GraphQLInputType | None) -> str:
    """A GraphQL literal for a JSON-ish value, enums unquoted where the type says enum."""
    named = _named(t) if t is not None else None
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        if isinstance(named, graphql.GraphQLEnumType) and value.isidentifier():
            return value
        return gql_string(value)
    if isinstance(value, list):
        inner = t.of_type if isinstance(t, graphql.GraphQLList) else (
            t.of_type.of_type if isinstance(t, graphql.GraphQLNonNull) and isinstance(t.of_type, graphql.GraphQLList) else t
        )
        return "[" + ", ".join(to_literal(v, inner) for v in value) + "]"
    if isinstance(value, dict):
        fields = dict(named.fields) if isinstance(named, graphql.GraphQLInputObjectType) else {}
        parts = []
        for k, v in value.items():
            key = k if k.isidentifier() else "_" + "".join(c for c in k if c.isalnum())
            parts.append(f"{key or '_'}: {to_literal(v, fields[k].type if k in fields else None)}")
        return "{" + ", ".join(parts) + "}"
    return gql_string(str(value))


# --------------------------------------------------------------------------------------------
# Documents from the schema
# --------------------------------------------------------------------------------------------


@dataclass
class Document:
    query: str
    variables: dict[str, Any]
    operation_name: str | None
    kind: str  # "query" | "mutation"
    roots: list[str]


class Builder:
    def __init__(self, draw, schema: graphql.GraphQLSchema, pool: Pool, right: bool):
        self.draw = draw
        self.schema = schema
        self.pool = pool
        self.right = right
        self.var_defs: list[str] = []
        self.variables: dict[str, Any] = {}
        self.fragments: list[str] = []

    def argument(self, name: str, arg: graphql.GraphQLArgument) -> str | None:
        d = self.draw
        required = isinstance(arg.type, graphql.GraphQLNonNull)
        if not required and d(st.integers(0, 2)) == 0:
            return None
        if required and d(st.integers(0, 40)) == 0:
            return None  # a required argument left out
        how = d(st.integers(0, 9))
        if how < 4:
            var = f"v{len(self.var_defs)}"
            declared = str(arg.type)
            if not self.right and d(st.integers(0, 5)) == 0:
                declared = d(st.sampled_from(["String", "Int!", "ID", "[ID!]!", "Boolean", "LocalDate!", "Nope"]))
            default = ""
            if not required and d(st.integers(0, 6)) == 0:
                default = " = " + to_literal(d(json_value_for(arg.type, self.pool, True)), arg.type)
            self.var_defs.append(f"${var}: {declared}{default}")
            if d(st.integers(0, 12)) != 0:
                self.variables[var] = d(json_value_for(arg.type, self.pool, self.right or d(st.booleans())))
            return f"{name}: ${var}"
        if self.right or d(st.booleans()):
            value = d(json_value_for(arg.type, self.pool, True))
            return f"{name}: {to_literal(value, arg.type)}"
        return f"{name}: {to_literal(d(any_json(6)), None)}"

    def arguments(self, f: graphql.GraphQLField) -> str:
        parts = [a for a in (self.argument(n, arg) for n, arg in f.args.items()) if a is not None]
        if not self.right and self.draw(st.integers(0, 8)) == 0:
            parts.append(f"bogus: {to_literal(self.draw(any_json(3)), None)}")
        return "(" + ", ".join(parts) + ")" if parts else ""

    def directives(self) -> str:
        d = self.draw
        n = d(st.integers(0, 12))
        if n == 0:
            return " @include(if: true)"
        if n == 1:
            return " @skip(if: false)"
        if n == 2:
            var = f"v{len(self.var_defs)}"
            self.var_defs.append(f"${var}: Boolean!")
            self.variables[var] = d(st.one_of(st.booleans(), any_json(2)))
            return f" @include(if: ${var})"
        return ""

    def selection(self, t: graphql.GraphQLOutputType, depth: int) -> str:
        named = _named(t)
        if not isinstance(named, (graphql.GraphQLObjectType, graphql.GraphQLInterfaceType)):
            return ""
        d = self.draw
        fields = sorted(named.fields.items())
        chosen = d(st.lists(st.sampled_from(fields), min_size=1, max_size=min(6, len(fields)), unique_by=lambda x: x[0]))
        parts = []
        if d(st.integers(0, 3)) == 0:
            parts.append("__typename")
        for fname, f in chosen:
            sub_named = _named(f.type)
            has_fields = isinstance(sub_named, (graphql.GraphQLObjectType, graphql.GraphQLInterfaceType))
            if has_fields and depth <= 0:
                continue
            alias = ""
            if d(st.integers(0, 5)) == 0:
                alias = d(st.sampled_from(["a", "b", "x_1", fname + "2", "__alias"])) + ": "
            text = f"{alias}{fname}{self.arguments(f)}{self.directives()}"
            if has_fields:
                inner = self.selection(f.type, depth - 1) or "__typename"
                if d(st.integers(0, 8)) == 0:
                    frag = f"F{len(self.fragments)}"
                    self.fragments.append(f"fragment {frag} on {sub_named.name} {{ {inner} }}")
                    inner = f"...{frag}"
                elif d(st.integers(0, 8)) == 0:
                    inner = f"... on {sub_named.name} {{ {inner} }}"
                text += f" {{ {inner} }}"
            parts.append(text)
        return " ".join(parts) if parts else "__typename"

    def document(self, kind: str) -> Document:
        d = self.draw
        root = self.schema.mutation_type if kind == "mutation" else self.schema.query_type
        assert root is not None
        fields = sorted(root.fields.items())
        chosen = d(st.lists(st.sampled_from(fields), min_size=1, max_size=3))
        parts, roots = [], []
        for i, (fname, f) in enumerate(chosen):
            alias = f"r{i}: " if len(chosen) > 1 or d(st.integers(0, 4)) == 0 else ""
            text = f"{alias}{fname}{self.arguments(f)}{self.directives()}"
            if isinstance(_named(f.type), (graphql.GraphQLObjectType, graphql.GraphQLInterfaceType)):
                text += " { " + self.selection(f.type, d(st.integers(0, 4))) + " }"
            parts.append(text)
            roots.append(fname)
        name = d(st.sampled_from([None, "Fuzz", "fuzz_op", "Ω"]))
        header = kind
        if name and name.isidentifier() and name.isascii():
            header += f" {name}"
        if self.var_defs:
            header += "(" + ", ".join(self.var_defs) + ")"
        query = header + " { " + " ".join(parts) + " }"
        if self.fragments:
            query += " " + " ".join(self.fragments)
        if kind == "query" and not self.var_defs and name is None and d(st.booleans()):
            query = "{ " + " ".join(parts) + " }" + (" " + " ".join(self.fragments) if self.fragments else "")
        op_name = name if name and name.isidentifier() and name.isascii() else None
        if not self.right and d(st.integers(0, 6)) == 0:
            op_name = d(st.sampled_from(["Other", "", "Fuzz2"]))
        return Document(query, self.variables, op_name, kind, roots)


@st.composite
def documents(draw, schema: graphql.GraphQLSchema, pool: Pool, mutations: bool = True) -> Document:
    kind = "mutation" if mutations and draw(st.integers(0, 9)) < 3 else "query"
    right = draw(st.integers(0, 3)) != 0
    return Builder(draw, schema, pool, right).document(kind)


def document_json(doc: Document) -> dict[str, Any]:
    body: dict[str, Any] = {"query": doc.query}
    if doc.variables:
        body["variables"] = doc.variables
    if doc.operation_name is not None:
        body["operationName"] = doc.operation_name
    return body


# --------------------------------------------------------------------------------------------
# HTTP around the documents
# --------------------------------------------------------------------------------------------

CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    "application/json; charset=latin1",
    "Application/JSON",
    "application/json, text/plain",
    "application/graphql",
    "application/graphql-response+json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "text/plain",
    "text/html",
    "",
    "*/*",
    "application/jsonx",
]
ACCEPTS = [
    None,
    "application/json",
    "application/graphql-response+json",
    "application/graphql-response+json, application/json;q=0.9",
    "*/*",
    "application/*",
    "text/html",
    "text/html, application/xhtml+xml",
    "application/graphql-response+json;q=0",
    "",
    ",,,;;;",
    "application/json; charset=shift_jis",
]


def forged_tokens(token: str) -> list[str | bytes]:
    head, payload, _sig = (token.split(".") + ["", "", ""])[:3]
    none_head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    hs_head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT","kid":"renkei-dev"}').decode().rstrip("=")
    return [
        "Bearer",
        "Bearer ",
        "Bearer    ",
        f"bearer {token}",
        f"BEARER {token}",
        f"Bearer  {token}  ",
        f"Bearer {token}x",
        f"Bearer {token[:-3]}",
        f"Bearer {head}.{payload}.",
        f"Bearer {none_head}.{payload}.",
        f"Bearer {hs_head}.{payload}.{_sig}",
        f"Bearer {head}.{payload}",
        f"Bearer {head}..{_sig}",
        "Bearer ....",
        "Bearer a.b.c",
        "Bearer " + "A" * 9000,
        f"Basic {base64.b64encode(b'user:pass').decode()}",
        f"Token {token}",
        token,
        "Bearer \u00e9\u00e8".encode("latin-1"),
        b"Bearer \xff\xfe\x80",
    ]


@st.composite
def http_requests(draw, schema: graphql.GraphQLSchema, pool: Pool, token: str) -> Request:
    doc = draw(documents(schema, pool))
    payload = document_json(doc)
    mode = draw(st.integers(0, 19))
    headers: dict[str, str | bytes] = {}
    accept = draw(st.sampled_from(ACCEPTS))
    if accept is not None:
        headers["Accept"] = accept
    auth: str | bytes = "token"
    if draw(st.integers(0, 9)) == 0:
        auth = draw(st.sampled_from(["none", *forged_tokens(token)]))
    if draw(st.integers(0, 15)) == 0:
        headers["x-request-id"] = draw(st.sampled_from(["", "a" * 65, "東京", "../../etc", "x\ty", "ok-id_1"]))
    label = f"http:{doc.kind}:{','.join(doc.roots)}"

    if mode <= 3:  # GET with the document's parameters, possibly garbled
        params = [("query", doc.query)]
        if doc.variables:
            params.append(("variables", json.dumps(doc.variables, ensure_ascii=False)))
        if doc.operation_name is not None:
            params.append(("operationName", doc.operation_name))
        twist = draw(st.integers(0, 8))
        if twist == 0:
            params.append(draw(st.sampled_from(params)))  # a parameter twice
        elif twist == 1:
            params = [(k, v) for k, v in params if k != "query"]
        elif twist == 2:
            params.append(("variables", draw(st.sampled_from(["{", "[]", "1", "null", '"x"', "{'a':1}"]))))
        elif twist == 3:
            params.append(("extensions", draw(st.sampled_from(["{", "[]", "1", '{"persistedQuery":{}}']))))
        query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        if twist == 4:
            query += draw(st.sampled_from(["&%FF%FE=%C0%AF", "&query=%", "&%zz", "&&&==", "&query", "&a=%E3%81"]))
        if twist == 5:
            query = query.replace("%20", "+")
        return Request(label=label, method="GET", target=f"/graphql?{query}", headers=headers, auth=auth)

    if mode == 4:  # another method
        method = draw(st.sampled_from(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "FOO"]))
        headers["Content-Type"] = "application/json"
        return Request(label=label, method=method, headers=headers, body=json_body(payload), auth=auth)

    headers["Content-Type"] = "application/json"
    if mode == 5:
        headers["Content-Type"] = draw(st.sampled_from(CONTENT_TYPES))
    body: Any = payload
    raw: bytes | None = None
    if mode == 6:  # a batch
        others = draw(st.lists(documents(schema, pool), max_size=12))
        body = [payload] + [document_json(o) for o in others]
        if draw(st.integers(0, 5)) == 0:
            body.insert(draw(st.integers(0, len(body))), draw(any_json(3)))
    elif mode == 7:  # wrong shapes
        key = draw(st.sampled_from(["query", "variables", "operationName", "extensions"]))
        body = dict(payload)
        body[key] = draw(any_json(6))
    elif mode == 8:  # extra and odd keys
        body = dict(payload)
        body[draw(st.text(max_size=20))] = draw(any_json(4))
    elif mode == 9:  # not an object
        body = draw(st.one_of(any_json(6), st.just([]), st.just([{}]), st.just({})))
    elif mode == 10:  # the JSON text damaged
        text = json_body(payload)
        cut = draw(st.integers(0, len(text)))
        how = draw(st.integers(0, 5))
        if how == 0:
            raw = text[:cut]
        elif how == 1:
            raw = text[:cut] + draw(st.binary(min_size=1, max_size=8)) + text[cut:]
        elif how == 2:
            raw = text[:cut] + bytes([draw(st.integers(0x80, 0xFF))]) + text[cut:]
        elif how == 3:
            raw = b"\xef\xbb\xbf" + text
        elif how == 4:
            raw = text + draw(st.sampled_from([b"\x00", b" garbage", b"{}", b"\n\n", b"]"]))
        else:
            raw = draw(st.binary(max_size=200))
    elif mode == 11:  # the same key twice
        raw = b'{"query": ' + json.dumps(doc.query).encode() + b', "query": ' + json.dumps("{ viewer { role } }").encode() + b"}"
    elif mode == 12:  # near and over the size limit
        size = draw(st.sampled_from([65_000, 65_530, 65_536, 65_537, 70_000, 200_000]))
        body = dict(payload)
        pad = max(0, size - len(json_body(payload)) - 20)
        body["extensions"] = {"pad": "x" * pad}
    elif mode == 13:  # numbers JSON cannot hold in a machine word, in variables
        raw = json_body(payload)
        if doc.variables:
            name = next(iter(doc.variables))
            literal = draw(st.sampled_from([b"1e999999", b"-1e999999", b"123456789012345678901234567890", b"-0", b"1.0e2"]))
            raw = json_body({**payload, "variables": {**doc.variables, name: "__N__"}}).replace(b'"__N__"', literal)
    elif mode == 14:  # deeply nested variable values
        depth = draw(st.sampled_from([64, 126, 127, 128, 129, 200, 5000]))
        raw = json_body({**payload, "variables": {**doc.variables, "deep": "__D__"}}).replace(
            b'"__D__"', b"[" * depth + b"]" * depth
        )
    if raw is None:
        raw = json_body(body)
    return Request(label=label, method="POST", headers=headers, body=raw, auth=auth)


@st.composite
def plain_documents(draw, schema: graphql.GraphQLSchema, pool: Pool) -> Request:
    doc = draw(documents(schema, pool))
    return post(f"document:{doc.kind}:{','.join(doc.roots)}", document_json(doc))


# --------------------------------------------------------------------------------------------
# Hand-written nasty requests
# --------------------------------------------------------------------------------------------


def nasty_requests(pool: Pool, token: str, heavy: bool = False) -> list[Request]:
    """The hand-written requests; `heavy` adds the slowest ones (for long budgets)."""
    reqs: list[Request] = []
    org = pool.organisations[0] if pool.organisations else str(uuid.uuid4())
    user = pool.users[0] if pool.users else str(uuid.uuid4())

    def q(label: str, query: str, variables: Any = None, **kw: Any) -> None:
        doc: dict[str, Any] = {"query": query}
        if variables is not None:
            doc["variables"] = variables
        reqs.append(post(label, doc, **kw))

    # Deep nesting of selections, within and far beyond any sensible depth.
    for depth in (5, 12, 13, 30, 100, 1000, 5000):
        inner = "id name " + "healthCentre { id name " * depth + "__typename" + " }" * depth
        q(f"nested healthCentre x{depth}", f'{{ organisation(id: "{org}") {{ {inner} }} }}')
    # Exponential fan-out: each level multiplies the resolver calls.
    for depth in (2, 3, 6, 10) if heavy else (2,):
        inner = "vendors { linkedHospitals { " * depth + "id" + " } }" * depth
        q(f"vendors/linkedHospitals fan-out x{depth}", f"{{ organisations(first: 100) {{ nodes {{ {inner} }} }} }}")
        reqs[-1].every_role = False
    q("nested users/organisation", "{ organisations(first: 100) { nodes { users(first: 100) { nodes { organisation { users(first: 100) { nodes { organisation { users(first: 100) { nodes { id } } } } } } } } } } }")
    # Parser recursion: braces, lists, objects, parentheses nested to the body limit.
    for n in (100, 1000, 10_000, 30_000):
        q(f"{{ nested x{n}", "{" * n + "viewer { role }" + "}" * n)
        q(f"[ list literal nested x{n}", '{ prefectures(region: ' + "[" * n + '"kanto"' + "]" * n + ") { code } }")
        q(f"{{ object literal nested x{n}", "{ organisations(first: 1, filter: " + "{a: " * n + "1" + "}" * n + ") { totalCount } }")
        q(f"fragment chain x{min(n, 2000)}", "{ ...F0 } " + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(min(n, 2000))) + f" fragment F{min(n, 2000)} on Query {{ viewer {{ role }} }}")
    q("fragment cycle", "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
    q("self-referencing fragment", "{ ...A } fragment A on Query { viewer { role } ...A }")
    # Many aliases and many root fields.
    for n in (30, 31, 100, 1000, 5000):
        q(f"{n} aliases of viewer", "{ " + " ".join(f"a{i}: viewer {{ role }}" for i in range(n)) + " }")
    q("1000 aliases of organisations(first:100)", "{ " + " ".join(f"a{i}: organisations(first: 100) {{ totalCount nodes {{ id }} }}" for i in range(1000)) + " }")
    q("2000 fields __typename", "{ " + "__typename " * 2000 + "}")
    q("__typename everywhere", "{ __typename viewer { __typename role organisation { __typename id prefecture { __typename region { __typename prefectures { __typename code } } } } user { __typename organisation { __typename } } } regions { __typename prefectures { __typename } } }")
    q("__typename of mutation root", "mutation { __typename }")
    q("__schema deep", INTROSPECTION)
    q("__type nesting", "{ __type(name: \"Organisation\") { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } }")
    q("__type missing", '{ __type(name: "") { name } }')
    q("__type of NUL", '{ __type(name: "\\u0000") { name } }')
    # Control characters, NUL and lone surrogates in strings and escapes.
    for s in ["\u0000", "a\u0000", "\u0001\u001f", "\u007f", "\ud7ff", "\ue000", "\U0001F3E5", "%\\_"]:
        q(f"nameContains {s!r}", "query($s: String) { organisations(first: 5, filter: {nameContains: $s}) { totalCount nodes { id } } }", {"s": s})
    for escape in ["\\u0000", "\\ud800", "\\udfff", "\\ud800\\udc00", "\\u{1F600}", "\\x41", "\\", "\\u00", "\\uZZZZ"]:
        q(f"string escape {escape}", '{ organisations(first: 5, filter: {nameContains: "' + escape + '"}) { totalCount } }')
    q("raw control characters in the document", "{\u0000viewer { role } }")
    q("raw DEL and C1 in the document", "{ viewer\u007f\u0085 { role } }")
    q("BOM inside the document", "\ufeff{ viewer { role } }")
    q("unterminated string", '{ prefectures(region: "kanto) { code } }')
    q("unterminated block string", '{ prefectures(region: """kanto) { code } }')
    q("cursor with NUL", "query($a: String) { organisations(first: 5, after: $a) { nodes { id } } }",
      {"a": base64.urlsafe_b64encode((str(uuid.uuid4()) + "a\u0000b").encode()).decode().rstrip("=")})
    q("cursor of 40 KB", "query($a: String) { organisations(first: 5, after: $a) { nodes { id } } }",
      {"a": base64.urlsafe_b64encode((str(uuid.uuid4()) + "あ" * 10000).encode()).decode().rstrip("=")})
    q("cursor with invalid UTF-8", "query($a: String) { organisations(first: 5, after: $a) { nodes { id } } }",
      {"a": base64.urlsafe_b64encode(str(uuid.uuid4()).encode() + b"\xff\xfe").decode().rstrip("=")})
    q("users cursor with NUL", f'query($a: String) {{ organisation(id: "{org}") {{ users(first: 5, after: $a) {{ nodes {{ id }} }} }} }}',
      {"a": base64.urlsafe_b64encode((str(uuid.uuid4()) + "\u0000").encode()).decode().rstrip("=")})
    # Numbers at and past the edges of Int.
    for first in ["0", "-1", "101", "2147483647", "-2147483648", "2147483648", "99999999999999999999", "1.0", "1e2", '"10"', "null", "[1]"]:
        q(f"first: {first}", f"{{ organisations(first: {first}) {{ totalCount }} }}")
    for code in ["0", "-1", "48", "2147483647", "-2147483648"]:
        q(f"prefecture(code: {code})", f"{{ prefecture(code: {code}) {{ nameJa }} organisations(first: 1, filter: {{prefecture: {code}}}) {{ totalCount }} }}")
    for value in [2**31, 2**63, 1e308, -0.0, 1.5, "1", True, [1], {"a": 1}]:
        q(f"variable first = {value!r}", "query($n: Int!) { organisations(first: $n) { totalCount } }", {"n": value})
    q("variables with 1e999999", "query($n: Int!) { organisations(first: $n) { totalCount } }", None)
    reqs[-1].body = b'{"query": "query($n: Int!) { organisations(first: $n) { totalCount } }", "variables": {"n": 1e999999}}'
    # IDs that are not UUIDs, or UUIDs of nothing.
    for ident in ["", "x", "\u0000", "00000000-0000-0000-0000-000000000000", str(uuid.uuid4()), org.upper(), "{" + org + "}", org + "\u0000", "1" * 10000]:
        q(f"organisation(id: {ident[:40]!r})", "query($id: ID!) { organisation(id: $id) { id name } }", {"id": ident})
        q(f"deactivateUser(id: {ident[:40]!r})", "mutation($id: ID!) { deactivateUser(id: $id) { id } }", {"id": ident})
    q("ID as an integer literal", "{ organisation(id: 12345) { id } }")
    # Mutations with odd inputs (whatever the role may do, nothing may fail inside).
    long_name = "病" * 100_00
    for name, extra in [
        ("\u0000", {}),
        ("x" * 201, {}),
        (long_name, {}),
        ("正常な名前", {"licensedBeds": -1}),
        ("正常な名前", {"licensedBeds": 2**31 - 1}),
        ("正常な名前", {"medicalInstitutionCode": "\u0000" * 10}),
        ("正常な名前", {"medicalInstitutionCode": "１２３４５６７８９０"}),
        ("正常な名前", {"healthCentreId": org}),
        ("正常な名前", {"healthCentreId": str(uuid.uuid4())}),
        ("正常な名前", {"functions": ["DISASTER_BASE"] * 50}),
        ("正常な名前", {"ehrProduct": "\u0000", "ehrInUse": True}),
        ("正常な名前", {"nameEn": "%_\\", "gmisId": "\u0000"}),
    ]:
        for kind in ("HOSPITAL", "CLINIC", "HEALTH_CENTRE", "VENDOR", "MINISTRY", "PREFECTURE_OFFICE"):
            q(f"createOrganisation {kind} {name[:10]!r} {extra}", "mutation($i: CreateOrganisationInput!) { createOrganisation(input: $i) { id name } }",
              {"i": {"kind": kind, "name": name, "prefecture": 13, "licensedBeds": 180 if kind == "HOSPITAL" else 5, **extra}})
    for extra in [{"name": "\u0000"}, {"licensedBeds": -5}, {"active": False}, {"functions": []}, {"medicalInstitutionCode": "\u0000"}, {"ehrProduct": "x" * 100000}]:
        q(f"updateOrganisation {extra!r:.40}", "mutation($id: ID!, $i: UpdateOrganisationInput!) { updateOrganisation(id: $id, input: $i) { id } }", {"id": org, "i": extra})
    for email in ["\u0000@x", "a@b", "x" * 5000 + "@example.jp", "ユーザー@例え.jp", "", "a@b\u0000c"]:
        q(f"inviteUser {email[:20]!r}", "mutation($i: InviteUserInput!) { inviteUser(input: $i) { id } }",
          {"i": {"organisationId": org, "email": email, "displayName": "\u0000" if "\u0000" in email else "名前", "role": "HOSPITAL_STAFF", "subject": email}})
    for date in ["2026-04-01", "0001-01-01", "9999-12-31", "262143-12-31", "-262144-01-01", "2026-02-29", "1970-01-01"]:
        q(f"designate on {date}", f'mutation {{ designateCriticalInfrastructure(hospitalId: "{org}", designatedOn: "{date}", note: "\\u0000") {{ id }} }}')
        q(f"revoke on {date}", f'mutation {{ revokeCriticalInfrastructure(hospitalId: "{org}", revokedOn: "{date}") {{ id }} }}')
    q("link vendor to itself", f'mutation {{ linkVendor(hospitalId: "{org}", vendorId: "{org}") {{ id }} }}')
    q("set health centre to itself", f'mutation {{ setHospitalHealthCentre(hospitalId: "{org}", healthCentreId: "{org}") {{ id }} }}')
    q("deactivate a user twice", f'mutation {{ a: deactivateUser(id: "{user}") {{ id }} b: deactivateUser(id: "{user}") {{ id }} }}')
    q("ten mutations at once", "mutation { " + " ".join(f'm{i}: linkVendor(hospitalId: "{org}", vendorId: "{org}") {{ id }}' for i in range(10)) + " }")
    # Operations and names.
    q("two anonymous operations", "{ viewer { role } } { regions { code } }")
    q("two named operations without operationName", "query A { viewer { role } } query B { regions { code } }")
    reqs.append(post("operationName of nothing", {"query": "query A { viewer { role } }", "operationName": "B"}))
    reqs.append(post("operationName NUL", {"query": "query A { viewer { role } }", "operationName": "\u0000"}))
    reqs.append(post("operationName long", {"query": "query A { viewer { role } }", "operationName": "A" * 60000}))
    q("subscription", "subscription { viewer { role } }")
    q("empty document", "")
    q("only a comment", "# nothing")
    q("only whitespace", " \t\n\r,,,")
    q("unknown directive", "{ viewer @nope { role } }")
    q("directive on the operation", "query @include(if: true) { viewer { role } }")
    q("undefined variable", "{ organisations(first: $n) { totalCount } }")
    q("unused variable", "query($n: Int) { viewer { role } }", {"n": 1, "m": 2})
    q("variable of an output type", "query($v: Viewer) { viewer { role } }", {"v": {}})
    q("variable of an unknown type", "query($v: Nope!) { viewer { role } }", {"v": 1})
    q("variable of an unknown type with a default", "query($v: Nope = null) { viewer { role } }")
    q("variable of an unknown type with a default, used", "query($v: Nope = 1) { prefecture(code: $v) { code } }")
    q("variable of an output type with a default", "query($v: Viewer = {}) { viewer { role } }")
    q("variable of a list of an unknown type with a default", "query($v: [Nope!] = []) { viewer { role } }")
    q("variables with 1000 keys", "query($n: Int!) { organisations(first: $n) { totalCount } }", {f"k{i}": i for i in range(1000)} | {"n": 1})
    q("huge variables", "query($s: String) { organisations(first: 1, filter: {nameContains: $s}) { totalCount } }", {"s": "あ" * 21000})
    q("enum as a string literal", '{ organisations(first: 5, filter: {kinds: ["HOSPITAL"]}) { totalCount } }')
    q("enum of another type", "{ organisations(first: 5, filter: {kinds: [BEDS_20_99], bedBand: HOSPITAL}) { totalCount } }")
    q("input list of 10000 enums", "{ organisations(first: 5, filter: {kinds: [" + ", ".join(["HOSPITAL"] * 10000) + "]}) { totalCount } }")
    q("variables: list of 10000 ids", "query($k: [OrganisationKind!]) { organisations(first: 5, filter: {kinds: $k}) { totalCount } }", {"k": ["CLINIC"] * 7000})
    # HTTP itself: the same for every role.
    http_start = len(reqs)
    reqs.append(Request("empty POST body", headers={"Content-Type": "application/json"}, body=b""))
    reqs.append(Request("POST without a body or length", headers={"Content-Type": "application/json"}))
    reqs.append(Request("invalid UTF-8 in the body", headers={"Content-Type": "application/json"}, body=b'{"query": "{ viewer { role } }\xff\xfe"}'))
    reqs.append(Request("invalid UTF-8 in a variable", headers={"Content-Type": "application/json"},
                        body=b'{"query": "query($s: String) { organisations(first: 1, filter: {nameContains: $s}) { totalCount } }", "variables": {"s": "\xc0\xaf\xed\xa0\x80"}}'))
    reqs.append(Request("lone surrogate escape in JSON", headers={"Content-Type": "application/json"},
                        body=b'{"query": "query($s: String) { organisations(first: 1, filter: {nameContains: $s}) { totalCount } }", "variables": {"s": "\\ud800"}}'))
    reqs.append(Request("NUL escape in the JSON query", headers={"Content-Type": "application/json"}, body=b'{"query": "{ viewer { role } }\\u0000"}'))
    reqs.append(Request("UTF-16 body", headers={"Content-Type": "application/json; charset=utf-16"}, body='{"query": "{ viewer { role } }"}'.encode("utf-16")))
    reqs.append(Request("JSON nested 100000 deep", headers={"Content-Type": "application/json"}, body=b"[" * 30000 + b"]" * 30000))
    reqs.append(Request("batch of 0", headers={"Content-Type": "application/json"}, body=b"[]"))
    reqs.append(post("batch of 10 heavy", [{"query": "{ organisations(first: 100) { totalCount nodes { id users(first: 100) { nodes { id } } } } }"}] * 10))
    reqs.append(post("batch of 11", [{"query": "{ viewer { role } }"}] * 11))
    reqs.append(post("batch of 1000", [{"query": "{ viewer { role } }"}] * 1000))
    reqs.append(post("batch with a mutation over POST", [{"query": "{ viewer { role } }"}, {"query": f'mutation {{ linkVendor(hospitalId: "{org}", vendorId: "{org}") {{ id }} }}'}]))
    reqs.append(post("batch nested in batch", [[{"query": "{ viewer { role } }"}]]))
    reqs.append(Request("body over the limit", headers={"Content-Type": "application/json"}, body=b'{"query": "{ viewer { role } }", "x": "' + b"x" * 70_000 + b'"}'))
    reqs.append(Request("1 MB body", headers={"Content-Type": "application/json"}, body=b"{" + b" " * 1_000_000 + b"}"))
    for ct in CONTENT_TYPES:
        reqs.append(post(f"Content-Type {ct!r}", {"query": "{ viewer { role } }"}, headers={"Content-Type": ct}))
    for accept in ACCEPTS:
        if accept is not None:
            reqs.append(post(f"Accept {accept!r}", {"query": "{ viewer { role } }"}, headers={"Accept": accept}))
            reqs.append(post(f"Accept {accept!r}, invalid document", {"query": "{ viewer { role "}, headers={"Accept": accept}))
    for auth in forged_tokens(token):
        reqs.append(post(f"Authorization {str(auth)[:30]!r}", {"query": "{ viewer { role } }"}, auth=auth))
    reqs.append(post("no Authorization", {"query": "{ viewer { role } }"}, auth="none"))
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "CONNECT", "PROPFIND", "get", "Post"):
        reqs.append(Request(f"method {method}", method=method, headers={"Content-Type": "application/json"}, body=b'{"query": "{ viewer { role } }"}'))
    reqs.append(get("GET with a 70 KB URL (over actix-http's 64 KiB head)", "query=%7B%20viewer%20%7B%20role%20%7D%20%7D&x=" + "a" * 70_000))
    for params in [
        "",
        "query=",
        "query=%7B%20viewer%20%7B%20role%20%7D%20%7D",
        "query=%7B%20viewer%20%7B%20role%20%7D%20%7D&query=%7B%7D",
        "query=%FF%FE",
        "query=%",
        "query=%zz",
        "query=%00",
        "query=mutation%20%7B%20deactivateUser(id%3A%20%22" + user + "%22)%20%7B%20id%20%7D%20%7D",
        "query=%7B%20viewer%20%7B%20role%20%7D%20%7D&variables=%7B",
        "query=%7B%20viewer%20%7B%20role%20%7D%20%7D&variables=%5B%5D",
        "query=%7B%20viewer%20%7B%20role%20%7D%20%7D&variables=" + "%5B" * 5000 + "%5D" * 5000,
        "query=%7B%20viewer%20%7B%20role%20%7D%20%7D&extensions=1",
        "query=%7B%20viewer%20%7B%20role%20%7D%20%7D&operationName=",
        "query=%7B%20viewer%20%7B%20role%20%7D%20%7D&operationName=%00",
        "query=" + "%7B" * 3000 + "viewer" + "%7D" * 3000,
        "=&=&=",
        "query[]=1&query[]=2",
        ";;;",
        "query=%7B%20viewer%20%7B%20role%20%7D%20%7D#fragment",
    ]:
        reqs.append(get(f"GET ?{params[:60]}", params))
        reqs.append(get(f"GET ?{params[:60]} (graphql-response)", params, headers={"Accept": "application/graphql-response+json"}))
    for req in reqs[http_start:]:
        req.every_role = False
    return reqs


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


class Run:
    """Sends requests for one role and keeps the failures, the smallest of each kind."""

    def __init__(self, role: str, client: Client, log: Callable[[str], None] = print):
        self.role = role
        self.client = client
        self.failures: dict[tuple, Failure] = {}
        self.warnings: dict[tuple, Failure] = {}
        self.log = log
        self.dead = False
        self.counter = 0
        # Exceptions of the fuzzer's own, each with its traceback: every one fails the run.
        self.errors: list[str] = []

    def check(self, req: Request) -> list[str]:
        if self.dead:
            return []
        self.counter += 1
        req.headers.setdefault("x-request-id", f"fuzz-{self.role}-{self.counter}")
        try:
            answer = self.client.send(req)
        except NoAnswer as e:
            found, answer = [str(e)], None
            if not self.client.alive():
                found.append("the server is down (GET /healthz does not answer)")
                self.dead = True
        else:
            found = invariants.problems(answer.status, answer.body, method=req.method, headers=answer.headers)
            if not found:
                notes = invariants.warnings(answer.status, answer.body, answer.headers)
                if notes:
                    self.record(req, notes, answer, self.warnings)
        if found:
            self.record(req, found, answer, self.failures)
        return found

    def record(self, req: Request, found: list[str], answer: Answer | None, into: dict[tuple, Failure]) -> None:
        kinds = tuple(sorted(p.split(":")[0] for p in found))
        key = (kinds, req.label)
        old = into.get(key)
        size = len(req.body or b"") + len(req.target)
        if old is None:
            into[key] = Failure(self.role, req, found, answer)
        else:
            old.count += 1
            if size < len(old.request.body or b"") + len(old.request.target):
                old.request, old.problems, old.answer = req, found, answer

    def nasty(self, pool: Pool, first_role: bool, heavy: bool) -> int:
        sent = 0
        for req in nasty_requests(pool, self.client.token, heavy):
            if first_role or req.every_role:
                try:
                    self.check(req)
                except Exception as e:  # noqa: BLE001 - the fuzzer's own bug: recorded, fails the run
                    self.errors.append(f"sending the hand-written request {req.label!r}:\n"
                                       + "".join(traceback.format_exception(e)))
                    self.log(f"FUZZER ERROR as {self.role}: the hand-written request {req.label!r} raised "
                             f"{type(e).__name__}: {invariants.shorten(str(e), 300)}")
                sent += 1
        return sent

    def property_based(self, strategy: st.SearchStrategy[Request], seconds: float) -> int:
        """Hypothesis examples of `strategy` until `seconds` are spent; a failing one is shrunk."""
        deadline = time.monotonic() + seconds
        sent_before = self.client.sent

        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.generate, Phase.shrink),
            report_multiple_bugs=False,
        )
        @given(strategy)
        def test(req: Request) -> None:
            # Past the deadline (plus a little for shrinking) nothing more is sent.
            if time.monotonic() > deadline + 5 or self.dead:
                return
            found = self.check(req)
            if found:
                raise RequestFailed(found)

        while time.monotonic() < deadline and not self.dead:
            try:
                test()
            except Exception as e:  # noqa: BLE001 - sorted out below
                if only_request_failures(e):
                    continue  # a failing request: check() recorded it
                # The fuzzer's own bug (a strategy, the client) or Hypothesis refusing the test:
                # a failure of the run, never a note. Three are enough to go on for one role.
                self.errors.append("".join(traceback.format_exception(e)))
                self.log(f"FUZZER ERROR as {self.role}: a batch of examples ended with {type(e).__name__}: "
                         f"{invariants.shorten(str(e), 300)}")
                if len(self.errors) >= 3:
                    self.log("three fuzzer errors for this role: it stops here")
                    break
        return self.client.sent - sent_before


def describe(failure: Failure, base_url: str, artifacts: str | None, index: int, what: str = "failure") -> str:
    """A failing request and its answer, readable and replayable."""
    req, answer = failure.request, failure.answer
    roles = ", ".join([failure.role, *failure.also])
    lines = [f"--- {what} {index}: {req.label} (seen {failure.count}×; role{'s' if failure.also else ''} {roles})"]
    for p in failure.problems:
        lines.append(f"    problem: {invariants.shorten(p, 1500 if what == 'failure' else 300)}")
    lines.append(f"    request: {req.method} {invariants.shorten(req.target, 1500)}")
    auth = req.auth if req.auth not in ("token", "none") else ("Bearer <token of " + failure.role + ">" if req.auth == "token" else "(none)")
    lines.append(f"    Authorization: {invariants.shorten(repr(auth) if isinstance(auth, bytes) else auth, 200)}")
    for k, v in req.headers.items():
        lines.append(f"    {k}: {v!r}" if isinstance(v, bytes) else f"    {k}: {v}")
    if req.body is not None:
        try:
            doc = json.loads(req.body)
        except (UnicodeDecodeError, ValueError):
            doc = None
        if isinstance(doc, dict) and "query" in doc:
            lines.append("    query:")
            lines.extend("      " + line for line in invariants.shorten(str(doc.get("query")), 3000).splitlines())
            if "variables" in doc:
                lines.append("    variables: " + invariants.shorten(json.dumps(doc["variables"], ensure_ascii=False), 3000))
            others = {k: v for k, v in doc.items() if k not in ("query", "variables")}
            if others:
                lines.append("    other keys: " + invariants.shorten(json.dumps(others, ensure_ascii=False), 1000))
        else:
            lines.append(f"    body ({len(req.body)} bytes): {invariants.shorten(repr(req.body), 3000)}")
    if answer is None:
        lines.append("    response: none")
    else:
        lines.append(f"    response: HTTP {answer.status} content-type={answer.headers.get('content-type')!r} x-request-id={answer.headers.get('x-request-id')!r}")
        limit = 3000 if what == "failure" else 600
        lines.append("    body: " + invariants.shorten(answer.body.decode("utf-8", "replace"), limit))
    if artifacts:
        os.makedirs(artifacts, exist_ok=True)
        stem = os.path.join(artifacts, f"{what}-{index}")
        if req.body is not None:
            with open(stem + ".body", "wb") as fh:
                fh.write(req.body)
        headers = " ".join(f"-H {json.dumps(f'{k}: {v}')}" for k, v in req.headers.items() if isinstance(v, str) and k.lower() != "content-length")
        auth_flag = ' -H "Authorization: Bearer $TOKEN"' if req.auth == "token" else ""
        data = f" --data-binary @{stem}.body" if req.body is not None else ""
        url = base_url.rstrip("/").rsplit("/graphql", 1)[0] + req.target
        lines.append(f"    replay (TOKEN=$(renkei-api token --user {failure.role})): curl -sS -X {req.method} {json.dumps(url)}{auth_flag} {headers}{data}")
    return "\n".join(lines)
