"""Fuzzes a running Renkei API at /graphql as several roles, within a time budget.

    python tests/fuzz/fuzz.py --url http://127.0.0.1:PORT/graphql --schema schema.graphql
        --mint 'renkei-api token' --seconds 50 --role demo-national --role demo-vendor ...

scripts/fuzz.sh starts a throw-away server and calls this. Then:
  1. schemathesis (`st run`, about 55 % of the budget) on the schema (SDL file, or introspection):
     queries and mutations (negative mode too from 300 s), fuzzing and stateful phases, real ids from fuzz
     dictionaries; hooks.py sends each request as one of the roles and checks every answer
     (`renkei_no_server_error`). It uses tokens of unregistered subjects with the roles' claims,
     which no mutation can deactivate;
  2. for each role in the order given (the rest of the budget, shared evenly): the hand-written
     nasty requests of raw.py, then its property-based documents and HTTP mutations (Hypothesis),
     with the registered user's token.
Exit status 1 when any server error was found (see invariants.py), each printed with its request;
when the fuzzer itself raised (a traceback in fuzz.py or raw.py, a hook of schemathesis crashing:
no note, a failure); or when a role got fewer answers than the stated minimum (below) from
schemathesis or from raw.py. The answers per role are printed in the summary.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import graphql

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# Hypothesis caches Unicode tables in `.hypothesis/` of the working directory: not in the clone.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.expanduser("~/.cache/renkei/hypothesis"))

import invariants  # noqa: E402
import raw  # noqa: E402

# The least number of answered requests each role must get from each of the two fuzzers in a run
# of the default budget (50 s); other budgets scale it in proportion (--min-per-role overrides).
# A run that sends fewer has not fuzzed that role, whatever else it reports. Measured in four
# runs of 50 s on a 2-core machine (debug build, 7 roles, another build compiling alongside):
# schemathesis answered 222–464 requests per role (it picks the role by a hash of the request, so
# the shares differ), raw.py 318–478 (238 hand-written for every role, 365 for the ministry, then
# Hypothesis' examples for the time left). The minimums are about a third of the least seen. A
# run of 150 s got 1041–1240 and 838–925 against minimums of 225 and 300.
MIN_SCHEMATHESIS_PER_ROLE_50S = 75
MIN_RAW_PER_ROLE_50S = 100


def toml_string(s: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_list(values: list) -> str:
    return "[" + ", ".join(toml_string(v) if isinstance(v, str) else str(v) for v in values) + "]"


def forged_cursors(pool: raw.Pool) -> list[str]:
    """Cursors in the format of ours (base64 of id and sort key) with odd sort keys."""
    ident = pool.organisations[0] if pool.organisations else "00000000-0000-0000-0000-000000000000"
    keys = ["", "\u0000", "a\u0000b", "%", "\\", "あ" * 50, "\udc80"]
    return [base64.urlsafe_b64encode((ident + k).encode("utf-8", "surrogatepass")).decode().rstrip("=") for k in keys]


def write_config(path: str, pool: raw.Pool, regions: list[str]) -> None:
    """schemathesis.toml: fuzz dictionaries of real values for the arguments that need them."""
    dictionaries = {
        "organisations": pool.organisations or ["00000000-0000-0000-0000-000000000000"],
        "hospitals": pool.of_kind("HOSPITAL", "CLINIC") or ["00000000-0000-0000-0000-000000000000"],
        "vendors": pool.of_kind("VENDOR") or ["00000000-0000-0000-0000-000000000000"],
        "health_centres": pool.of_kind("HEALTH_CENTRE") or ["00000000-0000-0000-0000-000000000000"],
        "users": pool.users or ["00000000-0000-0000-0000-000000000000"],
        "cursors": pool.cursors[:200] or ["x"],
        "pages": [1, 2, 5, 20, 50, 100, 0, 101, -1],
        "prefectures": [1, 13, 27, 47, 0, 48, -1],
        "regions": regions + ["", "KANTO", "nowhere"],
        "beds": [0, 5, 19, 20, 99, 100, 199, 200, 500, 2000, -1],
        "codes": ["1310000001", "2710000002", "131000000", "13100000011", "131000000a", ""],
        # Type-wide: any String or ID argument, now and then (below).
        "strings": [v for v in raw.NASTY_STRINGS if len(v) <= 300] + forged_cursors(pool),
        "integers": raw.INT_EDGES,
    }
    bindings = {
        "Query.organisation.id": ("organisations", 0.8),
        "Mutation.updateOrganisation.id": ("organisations", 0.8),
        "Mutation.deactivateUser.id": ("users", 0.8),
        "*.*.hospitalId": ("hospitals", 0.8),
        "*.*.vendorId": ("vendors", 0.8),
        "*.*.healthCentreId": ("health_centres", 0.7),
        "Query.organisations.filter.healthCentreId": ("health_centres", 0.7),
        "Mutation.createOrganisation.input.healthCentreId": ("health_centres", 0.7),
        "Mutation.inviteUser.input.organisationId": ("organisations", 0.8),
        "*.*.first": ("pages", 0.9),
        "*.*.after": ("cursors", 0.5),
        "Query.prefecture.code": ("prefectures", 0.8),
        "Query.organisations.filter.prefecture": ("prefectures", 0.8),
        "Mutation.createOrganisation.input.prefecture": ("prefectures", 0.8),
        "Query.prefectures.region": ("regions", 0.8),
        "Mutation.createOrganisation.input.licensedBeds": ("beds", 0.7),
        "Mutation.updateOrganisation.input.licensedBeds": ("beds", 0.7),
        "Mutation.createOrganisation.input.medicalInstitutionCode": ("codes", 0.6),
        "Mutation.updateOrganisation.input.medicalInstitutionCode": ("codes", 0.6),
    }
    lines = [
        "# Written by tests/fuzz/fuzz.py for one run.",
        "[generation]",
        'database = "none"',
        "",
        "[generation.dictionaries]",
        'string = { dictionary = "strings", probability = 0.2 }',
        'integer = { dictionary = "integers", probability = 0.2 }',
        "",
    ]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {toml_list(values)}", ""]
    lines.append("[parameters]")
    for key, (dictionary, probability) in bindings.items():
        lines.append(f'"{key}" = {{ dictionary = "{dictionary}", probability = {probability} }}')
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def run_schemathesis(st_bin: str, config: str, schema: str | None, url: str, tokens: dict[str, str], seconds: int,
                     workdir: str) -> tuple[int, dict[str, int] | None]:
    """One `st run` for every role: hooks.py sends each request with one of `tokens`. Returns its
    exit status and the answers per role that hooks.py counted (None when it wrote none)."""
    tokens_file = os.path.join(workdir, "tokens.json")
    counts_file = os.path.join(workdir, "answers.json")
    with open(os.open(tokens_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
        json.dump(tokens, fh)
    cmd = [st_bin, "--config-file", config, "--no-color", "run"]
    cmd += [schema, "--url", url] if schema else [url]
    cmd += [
        "--checks",
        "renkei_no_server_error",
        "--max-time",
        str(seconds),
        "--max-failures",
        "50",
        "--continue-on-failure",
        "--request-timeout",
        "30",
        "--workers",
        "2",
        "--warnings",
        "off",
        # Short runs spend their time on valid documents (raw.py sends the ill-typed ones); long
        # runs add schemathesis' negative mode too.
        "--mode",
        "positive" if seconds < 300 else "all",
    ]
    env = dict(os.environ, SCHEMATHESIS_HOOKS=os.path.join(HERE, "hooks.py"), RENKEI_FUZZ_TOKENS=tokens_file,
               RENKEI_FUZZ_COUNTS=counts_file, PYTHONDONTWRITEBYTECODE="1")
    try:
        # max-time bounds the fuzzing; a hard stop guards against a hang while shrinking.
        status = subprocess.run(cmd, cwd=workdir, env=env, timeout=seconds + 120, check=False).returncode
    except subprocess.TimeoutExpired:
        print(f"schemathesis did not stop within {seconds + 120} s", flush=True)
        status = 124
    try:
        with open(counts_file, encoding="utf-8") as fh:
            return status, json.load(fh)
    except (OSError, ValueError):
        return status, None


VIEWER = "{ viewer { subject role organisation { id } prefecture { code } user { id } } }"


def viewer(url: str, token: str) -> dict | None:
    """Who the token is, or None when the server refuses it."""
    answer = raw.Client(url, token).send(raw.post("viewer", {"query": VIEWER}))
    try:
        return (json.loads(answer.body).get("data") or {}).get("viewer")
    except ValueError:
        return None


def mint(command: list[str], *args: str) -> str:
    return subprocess.run(command + list(args), check=True, capture_output=True, text=True).stdout.strip()


def shadow_token(command: list[str], subject: str, who: dict) -> str | None:
    """A token for a second membership with the same role and organisation as `who`, registered
    for a subject of its own (`renkei-api user create`): the fuzzers may deactivate registered
    users, and deactivating this one locks out only the shadow."""
    shadow = f"fuzz-{subject}"
    register = command[:-1] + ["user", "create", "--subject", shadow, "--role", who["role"].lower(),
                               "--email", f"{shadow}@fuzz.renkei.example", "--name", shadow]
    if who.get("organisation"):
        register += ["--org", who["organisation"]["id"]]
    try:
        subprocess.run(register, check=True, capture_output=True, text=True)
        return mint(command, "--user", shadow)
    except subprocess.CalledProcessError as e:
        print(f"could not register a shadow user for {subject}: {e.stderr.strip()}", flush=True)
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the /graphql endpoint (loopback only)")
    parser.add_argument("--role", action="append", required=True, metavar="SUBJECT[=TOKEN]",
                        help="a registered subject, fuzzed in the order given; its token is minted with --mint "
                             "unless given")
    parser.add_argument("--mint", default=None, metavar="COMMAND",
                        help="the token command, e.g. 'renkei-api token': mints `--user SUBJECT` tokens; for "
                             "schemathesis, shadow users with the same role are registered with the same binary's "
                             "`user create`")
    parser.add_argument("--pool-role", default=None, metavar="SUBJECT",
                        help="the role that collects real ids (it should see everything) and sends the "
                             "role-independent and slow hand-written requests; default: the first subject naming "
                             "'national', else the first")
    parser.add_argument("--schema", default=None, metavar="SDL_FILE",
                        help="the schema as SDL (`renkei-api schema`); default: introspect the server")
    parser.add_argument("--seconds", type=float, default=60, help="total fuzzing budget, split between roles")
    parser.add_argument("--artifacts", default=None, help="where failing request bodies are written")
    parser.add_argument("--st", default=os.path.join(os.path.dirname(sys.executable), "st"), help="schemathesis CLI")
    parser.add_argument("--skip-schemathesis", action="store_true", help="only raw.py (for debugging the fuzzer)")
    parser.add_argument("--min-per-role", type=int, nargs=2, default=None, metavar=("SCHEMATHESIS", "RAW"),
                        help="the least answered requests per role from schemathesis and from raw.py; default "
                             f"{MIN_SCHEMATHESIS_PER_ROLE_50S} and {MIN_RAW_PER_ROLE_50S} for 50 s, in proportion "
                             "to --seconds")
    args = parser.parse_args()
    if args.min_per_role:
        min_st, min_raw = args.min_per_role
    else:
        min_st = round(MIN_SCHEMATHESIS_PER_ROLE_50S * args.seconds / 50)
        min_raw = round(MIN_RAW_PER_ROLE_50S * args.seconds / 50)
    command = shlex.split(args.mint) if args.mint else None
    started = time.monotonic()
    budget_end = started + args.seconds

    roles: list[tuple[str, str]] = []
    for item in args.role:
        subject, _, token = item.partition("=")
        if not token:
            if command is None:
                parser.error(f"--role {item!r}: give SUBJECT=TOKEN, or --mint")
            token = mint(command, "--user", subject)
        roles.append((subject, token))

    pool_subject = args.pool_role or next((s for s, _ in roles if "national" in s), roles[0][0])
    pool_token = dict(roles).get(pool_subject)
    if pool_token is None:
        parser.error(f"--pool-role {pool_subject!r} is not one of the --role subjects")
    first = raw.Client(args.url, pool_token)
    if args.schema:
        with open(args.schema, encoding="utf-8") as fh:
            schema = graphql.build_schema(fh.read())
    else:
        schema = raw.introspect(first)
    token_users: set[str] = set()
    st_tokens: dict[str, str] = {}
    for subject, token in roles:
        who = viewer(args.url, token)
        if who is None:
            raise SystemExit(f"the token of {subject} is refused: {{ viewer }} answers no data")
        if who.get("user"):
            token_users.add(who["user"]["id"])
        st_tokens[subject] = (shadow_token(command, subject, who) if command else None) or token
    # The fuzzers may deactivate any user but those whose tokens the run still needs.
    pool = raw.collect_pool(first, exclude_users=token_users)
    regions_answer = first.send(raw.post("regions", {"query": "{ regions { code } }"}))
    regions = [r["code"] for r in json.loads(regions_answer.body)["data"]["regions"]]
    print(f"schema: {len(schema.query_type.fields)} queries, {len(schema.mutation_type.fields)} mutations; "
          f"pool: {len(pool.organisations)} organisations, {len(pool.users)} users, {len(pool.cursors)} cursors",
          flush=True)

    failures: list[raw.Failure] = []
    warnings: list[raw.Failure] = []
    fuzzer_errors: list[str] = []
    st_status = 0
    st_answers: dict[str, int] | None = None
    dead_tokens: set[str] = set()
    totals = []
    workdir = tempfile.mkdtemp(prefix="renkei-fuzz-")
    try:
        config = os.path.join(workdir, "schemathesis.toml")
        write_config(config, pool, regions)
        if not args.skip_schemathesis:
            # Its start (imports, schema) takes a second or two of the share.
            st_seconds = max(5, int(args.seconds * 0.55) - 2)
            print(f"\n=== schemathesis, every role, {st_seconds} s", flush=True)
            st_status, st_answers = run_schemathesis(args.st, config, args.schema, args.url, st_tokens, st_seconds,
                                                     workdir)
            if st_answers is None:
                fuzzer_errors.append("schemathesis left no count of its answers (hooks.py writes them as it exits): "
                                     "it crashed, was killed, or did not load hooks.py")
        for index, (subject, token) in enumerate(roles):
            # What is left of the budget, shared by the roles still to come: overruns are absorbed.
            role_end = time.monotonic() + max(2.0, (budget_end - time.monotonic()) / (len(roles) - index))
            print(f"\n=== raw.py as {subject}, {role_end - time.monotonic():.0f} s", flush=True)
            run = raw.Run(subject, raw.Client(args.url, token))
            nasty = run.nasty(pool, first_role=subject == pool_subject, heavy=args.seconds >= 600)
            left = max(1.0, role_end - time.monotonic())
            documents = run.property_based(raw.plain_documents(schema, pool), left / 2)
            http = run.property_based(raw.http_requests(schema, pool, token), left / 2)
            totals.append((subject, nasty, documents, http, run.client.sent, len(run.failures)))
            print(f"{nasty} hand-written, {documents} generated documents, {http} generated HTTP requests; "
                  f"{len(run.failures)} failing", flush=True)
            for other, other_token in roles:
                if other not in dead_tokens and viewer(args.url, other_token) is None:
                    dead_tokens.add(other)
                    print(f"note: the token of {other} no longer authenticates (its user was deactivated); "
                          "what is left of the run sees UNAUTHENTICATED for it", flush=True)
            failures.extend(run.failures.values())
            warnings.extend(run.warnings.values())
            fuzzer_errors.extend(f"raw.py as {subject}: {e}" for e in run.errors)
            if run.dead:
                print("the server is down: stopping", flush=True)
                break
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print("\n=== summary: answered requests per role (minimum per role: "
          + ("" if args.skip_schemathesis else f"schemathesis {min_st}, ") + f"raw.py {min_raw})", flush=True)
    short: list[str] = []
    raw_answers = {subject: answered for subject, _, _, _, answered, _ in totals}
    for subject, _ in roles:
        found = next((t[5] for t in totals if t[0] == subject), 0)
        line = f"  {subject:22} raw.py: {raw_answers.get(subject, 0):6}"
        if raw_answers.get(subject, 0) < min_raw:
            short.append(f"{subject} got {raw_answers.get(subject, 0)} answers from raw.py, fewer than {min_raw}")
        if not args.skip_schemathesis:
            answered = (st_answers or {}).get(subject, 0)
            line += f"   schemathesis: {answered:6}"
            if answered < min_st:
                short.append(f"{subject} got {answered} answers from schemathesis, fewer than {min_st}")
        print(f"{line}   {found} failing in raw.py", flush=True)
    failures, warnings = raw.merge(failures), raw.merge(warnings)
    for index, warning in enumerate(warnings, 1):
        print(raw.describe(warning, args.url, None, index, what="warning (not a failure)"), flush=True)
    for index, failure in enumerate(failures, 1):
        print(raw.describe(failure, args.url, args.artifacts, index), flush=True)
    if st_status:
        print(f"schemathesis failed (exit {st_status}): its report is above, each failure with a curl command "
              "to replay (X-Fuzz-Role names the token to mint); a hook that raised is in its ERRORS section")
    for index, error in enumerate(fuzzer_errors, 1):
        print(f"--- fuzzer error {index} (a bug of the fuzzer's, or what it met; it fails the run)\n"
              + invariants.shorten(error.rstrip(), 3000), flush=True)
    for line in short:
        print(f"too few requests: {line}", flush=True)
    elapsed = time.monotonic() - started
    reasons = []
    if failures:
        reasons.append(f"{len(failures)} failing requests from raw.py")
    if st_status:
        reasons.append(f"schemathesis failed (exit {st_status})")
    if fuzzer_errors:
        reasons.append(f"{len(fuzzer_errors)} fuzzer errors")
    if short:
        reasons.append(f"too few requests ({len(short)} times a role and a fuzzer)")
    if reasons:
        print(f"FUZZ FAILED in {elapsed:.0f} s: " + "; ".join(reasons))
        return 1
    print(f"fuzz passed in {elapsed:.0f} s: no server error, every role over its minimum of requests")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # noqa: BLE001 - the fuzzer's own bug: a failure of the run, with its traceback
        traceback.print_exc()
        print("FUZZ FAILED: fuzz.py raised (above): the fuzzer did not finish, so the run proves nothing", flush=True)
        sys.exit(1)
