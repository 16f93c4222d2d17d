// PostGraphile 5 (amber preset) over Renkei's database, as the peer in bench/peers.py.
//
// It connects as the application login (PEERS_DATABASE_URL: renkei_api, neither owner nor
// BYPASSRLS), verifies the bearer token as the Renkei API does (core/src/auth.rs: EdDSA only,
// `kid`, signature, iss, aud, exp, nbf with leeway, the claim shapes of `Claims`, and the
// role/org/pref checks of `Principal::new`), and puts the caller into the transaction exactly as
// `set_principal` in core/src/db.rs does: renkei.role, renkei.org, renkei.prefecture,
// renkei.subject and statement_timeout, transaction-local. Every table is FORCE row-level
// security keyed on those settings, so without them nothing is visible. Only Node's `crypto`.
//
// Environment: PEERS_DATABASE_URL, JWT_PUBLIC_KEY_FILE, JWT_ALGORITHM (EdDSA), JWT_KEY_ID,
// JWT_ISSUER, JWT_AUDIENCE, JWT_LEEWAY_SECONDS, DATABASE_STATEMENT_TIMEOUT_MS,
// DATABASE_POOL_SIZE, PEERS_PG_HOST, PEERS_PG_PORT.
//
// Like the Renkei API it takes the caller's role, organisation and prefecture from the registry,
// not from the token: `renkei_sign_in` (migration 000015), asked on its own connection before
// the operation's transaction (PostGraphile has no hook to fold it into the statement that
// writes the settings, as the Renkei API does), and refuses tokens whose claims disagree.
// Difference that remains: it has no rate limits.

import { createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

function env(name, fallback) {
  const v = process.env[name];
  return v === undefined || v === "" ? fallback : v;
}

function required(name) {
  const v = env(name);
  if (v === undefined) throw new Error(`${name} must be set`);
  return v;
}

const ALGORITHM = env("JWT_ALGORITHM", "EdDSA");
if (ALGORITHM !== "EdDSA") {
  throw new Error(`JWT_ALGORITHM=${ALGORITHM}: this peer verifies EdDSA (Ed25519) tokens only`);
}
const PUBLIC_KEY = createPublicKey(readFileSync(required("JWT_PUBLIC_KEY_FILE")));
if (PUBLIC_KEY.asymmetricKeyType !== "ed25519") {
  throw new Error("JWT_PUBLIC_KEY_FILE is not an Ed25519 public key");
}
const KEY_ID = env("JWT_KEY_ID", "renkei-dev");
const ISSUER = env("JWT_ISSUER", "renkei-dev");
const AUDIENCE = env("JWT_AUDIENCE", "renkei");
const LEEWAY = Number(env("JWT_LEEWAY_SECONDS", "30"));
if (!Number.isInteger(LEEWAY) || LEEWAY < 0 || LEEWAY > 300) {
  throw new Error("JWT_LEEWAY_SECONDS must be an integer from 0 to 300");
}
const STATEMENT_TIMEOUT_MS = env("DATABASE_STATEMENT_TIMEOUT_MS", "5000");
const POOL_SIZE = Number(env("DATABASE_POOL_SIZE", "16"));

const ROLES = new Set([
  "national",
  "prefecture",
  "health_centre",
  "hospital_admin",
  "hospital_staff",
  "vendor",
  "dashboard",
]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID in any form Rust's `Uuid::parse_str` reads (hyphenated, simple, braced, URN), as
 * `Uuid::to_string` writes it; null when it is none of them. */
function uuid(text) {
  if (typeof text !== "string") return null;
  let t = text;
  if (t.length === 45 && t.slice(0, 9).toLowerCase() === "urn:uuid:") t = t.slice(9);
  else if (t.length === 38 && t[0] === "{" && t[37] === "}") t = t.slice(1, 37);
  if (/^[0-9a-f]{32}$/i.test(t)) {
    t = `${t.slice(0, 8)}-${t.slice(8, 12)}-${t.slice(12, 16)}-${t.slice(16, 20)}-${t.slice(20)}`;
  }
  return UUID.test(t) ? t.toLowerCase() : null;
}
const B64URL = /^[A-Za-z0-9_-]*$/;

// Thrown from the context callback, grafserv answers with this status and the message (as the
// Renkei API answers 401 UNAUTHENTICATED); no operation runs, so no row is read.
class Unauthenticated extends Error {
  constructor(message) {
    super(message);
    this.statusCode = 401;
  }
}

function refuse(why) {
  throw new Unauthenticated(why);
}

function jsonPart(part) {
  if (!B64URL.test(part)) refuse("malformed token");
  try {
    const value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    if (value === null || typeof value !== "object" || Array.isArray(value)) refuse("malformed token");
    return value;
  } catch (e) {
    if (e instanceof Unauthenticated) throw e;
    refuse("malformed token");
  }
}

const isUnsigned = (v) => Number.isSafeInteger(v) && v >= 0;

/** The principal a compact JWT speaks for, or an Unauthenticated error (cf. Verifier::verify). */
export function verifyToken(token) {
  const parts = token.split(".");
  if (parts.length !== 3) refuse("malformed token");
  const [h, p, s] = parts;
  const header = jsonPart(h);
  if (header.alg !== ALGORITHM) refuse("token algorithm not accepted");
  // One PEM key, known by its kid: a token naming another kid is refused; one without a kid is
  // accepted because there is exactly one key to try.
  if (header.kid != null && header.kid !== KEY_ID) refuse("token signed with an unknown key");
  if (!B64URL.test(s)) refuse("token invalid");
  const signature = Buffer.from(s, "base64url");
  if (!verify(null, Buffer.from(`${h}.${p}`), PUBLIC_KEY, signature)) refuse("token signature invalid");
  const claims = jsonPart(p);
  for (const name of ["exp", "sub", "iss", "aud", "nbf"]) {
    if (claims[name] === undefined || claims[name] === null) refuse("token lacks a required claim");
  }
  if (!isUnsigned(claims.exp) || !isUnsigned(claims.nbf) || !isUnsigned(claims.iat)) refuse("token invalid");
  const now = Math.floor(Date.now() / 1000);
  if (claims.exp < now - LEEWAY) refuse("token expired");
  if (claims.nbf > now + LEEWAY) refuse("token not yet valid");
  if (claims.iss !== ISSUER) refuse("token issuer not accepted");
  if (claims.aud !== AUDIENCE) refuse("token audience not accepted");
  if (typeof claims.sub !== "string" || (claims.role != null && typeof claims.role !== "string")) refuse("token invalid");
  const org = claims.org ?? null;
  const pref = claims.pref ?? null;
  const orgId = org === null ? null : uuid(org);
  if (org !== null && orgId === null) refuse("token invalid");
  if (pref !== null && (!Number.isInteger(pref) || pref < -32768 || pref > 32767)) refuse("token invalid");
  if (claims.role != null && !ROLES.has(claims.role)) refuse("token role unknown");
  // Principal::new
  const sub = claims.sub;
  // eslint-disable-next-line no-control-regex
  if (sub === "" || Buffer.byteLength(sub) > 255 || /[\u0000-\u001f\u007f-\u009f]/.test(sub)) {
    refuse("token subject missing, too long or not text");
  }
  return { issuer: claims.iss, subject: sub, role: claims.role ?? null, org: orgId, pref };
}

const registry = new pg.Pool({ connectionString: required("PEERS_DATABASE_URL"), max: POOL_SIZE });

/** The caller as the registry describes them (cf. core/src/identity.rs), or Unauthenticated. */
async function signIn(identity) {
  const { rows } = await registry.query(
    "SELECT organisation_id, role, org_prefecture, problem FROM renkei_sign_in($1, $2, $3, NULL, $4)",
    [identity.issuer, identity.subject, identity.org, STATEMENT_TIMEOUT_MS],
  );
  const row = rows[0];
  if (!row || row.problem) refuse(row?.problem === "deactivated" ? "account deactivated" : "not registered");
  if (identity.role !== null && identity.role !== row.role) refuse("token claim role disagrees with the registry");
  if (identity.pref !== null && identity.pref !== row.org_prefecture) refuse("token claim pref disagrees with the registry");
  return {
    subject: identity.subject,
    role: row.role,
    org: row.organisation_id,
    pref: row.role === "prefecture" ? String(row.org_prefecture) : "",
  };
}

function bearer(requestContext) {
  const req = requestContext?.node?.req;
  const raw = req?.headers?.authorization ?? requestContext?.http?.getHeader?.("authorization");
  if (typeof raw !== "string") refuse("missing bearer token");
  const token = raw.startsWith("Bearer ") ? raw.slice(7) : raw.startsWith("bearer ") ? raw.slice(7) : null;
  if (token === null || token.trim() === "") refuse("authorization must be `Bearer <token>`");
  return token.trim();
}

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: required("PEERS_DATABASE_URL"),
      schemas: ["public"],
      poolConfig: { max: POOL_SIZE },
    }),
  ],
  grafserv: {
    host: env("PEERS_PG_HOST", "127.0.0.1"),
    port: Number(env("PEERS_PG_PORT", "5678")),
    graphiql: false,
    watch: false,
  },
  grafast: {
    explain: false,
    // As set_principal: transaction-local settings for the RLS policies, and the statement
    // timeout. PostGraphile applies pgSettings with set_config(…, true) in the request's
    // transaction.
    async context(requestContext) {
      const p = await signIn(verifyToken(bearer(requestContext)));
      return {
        pgSettings: {
          "renkei.role": p.role,
          "renkei.org": p.org,
          "renkei.prefecture": p.pref,
          "renkei.subject": p.subject,
          statement_timeout: STATEMENT_TIMEOUT_MS,
        },
      };
    },
  },
};

export default preset;
