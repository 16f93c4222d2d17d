"""Fuzzes a running Renkei API at /graphql, role by role, within a time budget.

    python tests/fuzz/fuzz.py --url http://127.0.0.1:PORT/graphql --seconds 60 \
        --role demo-national=TOKEN --role demo-vendor=TOKEN ...

scripts/fuzz.sh starts a throw-away server and calls this. For each role, in the order given:
  1. schemathesis (`st run`) on the introspected schema: queries and mutations, positive and
     negative, fuzzing and stateful phases, real ids from a fuzz dictionary, checked by
     hooks.py's `renkei_no_server_error`;
  2. the hand-written nasty requests of raw.py;
  3. raw.py's property-based documents and HTTP mutations (Hypothesis).
The budget is split evenly between roles, and within a role 60 % to schemathesis, 40 % to raw.py.
Exit status 1 when any server error was found (see invariants.py), each printed with its request.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import raw  # noqa: E402


def toml_string(s: str) -> str:
    return json.dumps(s)  # TOML basic strings accept JSON's escapes for the ASCII ids we write


def toml_list(values: list) -> str:
    return "[" + ", ".join(toml_string(v) if isinstance(v, str) else str(v) for v in values) + "]"


def write_config(path: str, pool: raw.Pool, regions: list[str]) -> None:
    """schemathesis.toml: fuzz dictionaries of real values for the arguments that need them."""
    dictionaries = {
        "organisations": pool.organisations or ["00000000-0000-0000-0000-000000000000"],
        "users": pool.users or ["00000000-0000-0000-0000-000000000000"],
        "cursors": pool.cursors[:200] or ["x"],
        "pages": [1, 2, 5, 20, 50, 100, 0, 101, -1],
        "prefectures": [1, 13, 27, 47, 0, 48, -1],
        "regions": regions + ["", "KANTO", "nowhere"],
        "beds": [0, 5, 19, 20, 99, 100, 199, 200, 500, 2000, -1],
        "codes": ["1310000001", "2710000002", "131000000", "13100000011", "131000000a", ""],
    }
    bindings = {
        "Query.organisation.id": ("organisations", 0.8),
        "Mutation.updateOrganisation.id": ("organisations", 0.8),
        "Mutation.deactivateUser.id": ("users", 0.8),
        "*.*.hospitalId": ("organisations", 0.8),
        "*.*.vendorId": ("organisations", 0.8),
        "*.*.healthCentreId": ("organisations", 0.7),
        "Query.organisations.filter.healthCentreId": ("organisations", 0.7),
        "Mutation.createOrganisation.input.healthCentreId": ("organisations", 0.7),
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
    lines = ["# Written by tests/fuzz/fuzz.py for one run.", "[generation]", 'database = "none"', ""]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {toml_list(values)}", ""]
    lines.append("[parameters]")
    for key, (dictionary, probability) in bindings.items():
        lines.append(f'"{key}" = {{ dictionary = "{dictionary}", probability = {probability} }}')
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def run_schemathesis(st_bin: str, config: str, url: str, token: str, seconds: int, workdir: str) -> int:
    cmd = [
        st_bin,
        "--config-file",
        config,
        "--no-color",
        "run",
        url,
        "--header",
        f"Authorization: Bearer {token}",
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
        "--mode",
        "all",
    ]
    env = dict(os.environ, SCHEMATHESIS_HOOKS=os.path.join(HERE, "hooks.py"), PYTHONDONTWRITEBYTECODE="1")
    try:
        # max-time bounds the fuzzing; a hard stop guards against a hang while shrinking.
        return subprocess.run(cmd, cwd=workdir, env=env, timeout=seconds + 120, check=False).returncode
    except subprocess.TimeoutExpired:
        print(f"schemathesis did not stop within {seconds + 120} s", flush=True)
        return 124


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the /graphql endpoint (loopback only)")
    parser.add_argument("--role", action="append", required=True, metavar="SUBJECT=TOKEN",
                        help="a subject and its bearer token, fuzzed in the order given")
    parser.add_argument("--pool-role", default=None, metavar="SUBJECT",
                        help="the role that introspects, collects real ids (it should see everything) and sends the "
                             "role-independent and slow hand-written requests; default: the first subject naming "
                             "'national', else the first")
    parser.add_argument("--seconds", type=float, default=60, help="total fuzzing budget, split between roles")
    parser.add_argument("--artifacts", default=None, help="where failing request bodies are written")
    parser.add_argument("--st", default=os.path.join(os.path.dirname(sys.executable), "st"), help="schemathesis CLI")
    parser.add_argument("--skip-schemathesis", action="store_true", help="only raw.py (for debugging the fuzzer)")
    args = parser.parse_args()

    roles = []
    for item in args.role:
        subject, _, token = item.partition("=")
        if not token:
            parser.error(f"--role {item!r}: expected SUBJECT=TOKEN")
        roles.append((subject, token))

    pool_subject = args.pool_role or next((s for s, _ in roles if "national" in s), roles[0][0])
    pool_token = dict(roles).get(pool_subject)
    if pool_token is None:
        parser.error(f"--pool-role {pool_subject!r} is not one of the --role subjects")
    started = time.monotonic()
    first = raw.Client(args.url, pool_token)
    schema = raw.introspect(first)
    token_users: set[str] = set()
    for _, token in roles:
        answer = raw.Client(args.url, token).send(raw.post("viewer", {"query": "{ viewer { user { id } } }"}))
        user = ((json.loads(answer.body).get("data") or {}).get("viewer") or {}).get("user")
        if user:
            token_users.add(user["id"])
    # The fuzzers may deactivate any user but those whose tokens the run still needs.
    pool = raw.collect_pool(first, exclude_users=token_users)
    regions_answer = first.send(raw.post("regions", {"query": "{ regions { code } }"}))
    regions = [r["code"] for r in json.loads(regions_answer.body)["data"]["regions"]]
    print(f"schema: {len(schema.query_type.fields)} queries, {len(schema.mutation_type.fields)} mutations; "
          f"pool: {len(pool.organisations)} organisations, {len(pool.users)} users, {len(pool.cursors)} cursors", flush=True)

    workdir = tempfile.mkdtemp(prefix="renkei-fuzz-")
    config = os.path.join(workdir, "schemathesis.toml")
    write_config(config, pool, regions)

    share = args.seconds / len(roles)
    st_seconds = 0 if args.skip_schemathesis else max(2, int(share * 0.6))
    raw_seconds = max(1.0, share - st_seconds)
    failures: list[raw.Failure] = []
    warnings: list[raw.Failure] = []
    st_failed: list[str] = []
    totals = []
    try:
        for subject, token in roles:
            print(f"\n=== {subject}: schemathesis {st_seconds} s, raw HTTP {raw_seconds:.0f} s", flush=True)
            if st_seconds:
                rc = run_schemathesis(args.st, config, args.url, token, st_seconds, workdir)
                if rc != 0:
                    st_failed.append(f"{subject} (st exit {rc})")
            run = raw.Run(subject, raw.Client(args.url, token))
            t0 = time.monotonic()
            nasty = run.nasty(pool, first_role=subject == pool_subject, heavy=args.seconds >= 600)
            left = max(0.5, raw_seconds - (time.monotonic() - t0))
            documents = run.property_based(raw.plain_documents(schema, pool), left / 2)
            http = run.property_based(raw.http_requests(schema, pool, token), left / 2)
            totals.append((subject, nasty, documents, http, len(run.failures)))
            print(f"raw.py {subject}: {nasty} hand-written, {documents} generated documents, {http} generated HTTP "
                  f"requests; {len(run.failures)} kinds of server error", flush=True)
            failures.extend(run.failures.values())
            warnings.extend(run.warnings.values())
            if run.dead:
                print("the server is down: stopping", flush=True)
                break
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print("\n=== summary", flush=True)
    for subject, nasty, documents, http, found in totals:
        print(f"  {subject:22} raw.py: {nasty + documents + http:6} requests, {found} kinds of server error")
    for index, warning in enumerate(warnings, 1):
        print(raw.describe(warning, args.url, None, index, what="warning (not a failure)"), flush=True)
    for index, failure in enumerate(failures, 1):
        print(raw.describe(failure, args.url, args.artifacts, index), flush=True)
    if st_failed:
        print("schemathesis found server errors (printed above with a curl command to replay) for: " + ", ".join(st_failed))
    elapsed = time.monotonic() - started
    if failures or st_failed:
        print(f"FUZZ FAILED in {elapsed:.0f} s: {len(failures)} kinds of server error from raw.py, "
              f"{len(st_failed)} roles with schemathesis failures")
        return 1
    print(f"fuzz passed in {elapsed:.0f} s: no server error")
    return 0


if __name__ == "__main__":
    sys.exit(main())
