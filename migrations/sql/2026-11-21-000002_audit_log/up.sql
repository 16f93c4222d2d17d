-- The audit log: every mutation (and, later, every bundle download), chained by SHA-256 so that
-- a changed or removed row shows. The application role may only insert; the chain is computed by
-- a trigger that runs as the schema owner, and reading goes through a function that applies the
-- tenant rules.

CREATE TABLE audit_log (
  -- Assigned by the trigger under a lock, so that id order is chain order.
  id              bigint PRIMARY KEY,
  at              timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor           text NOT NULL,
  role            text NOT NULL,
  organisation_id uuid,
  -- The tenant whose trail the entry belongs to: the actor's prefecture.
  prefecture_code smallint,
  operation       text NOT NULL,
  target_ids      text[] NOT NULL DEFAULT '{}',
  outcome         text NOT NULL,
  request_id      text NOT NULL,
  prev_hash       bytea NOT NULL,
  hash            bytea NOT NULL
);
CREATE INDEX audit_log_prefecture ON audit_log (prefecture_code, id);

-- The bytes each hash covers, one definition for the trigger and for `renkei-api audit verify`.
CREATE FUNCTION renkei_audit_canonical(a audit_log) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT concat_ws(E'\x1f', a.id::text,
                   to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   a.actor, a.role, coalesce(a.organisation_id::text, ''),
                   coalesce(a.prefecture_code::text, ''), a.operation,
                   array_to_string(a.target_ids, ','), a.outcome, a.request_id)
$$;

CREATE FUNCTION renkei_audit_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
DECLARE
  last record;
BEGIN
  -- One writer at a time until commit: the next entry reads this one's hash.
  PERFORM pg_advisory_xact_lock(7272701);
  SELECT id, hash INTO last FROM audit_log ORDER BY id DESC LIMIT 1;
  NEW.id := coalesce(last.id, 0) + 1;
  NEW.at := clock_timestamp();
  NEW.prev_hash := coalesce(last.hash, '\x'::bytea);
  NEW.hash := sha256(NEW.prev_hash || convert_to(renkei_audit_canonical(NEW), 'UTF8'));
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
  FOR EACH ROW EXECUTE FUNCTION renkei_audit_chain();

-- The trail a caller may read, newest first: the ministry all of it, a prefecture its own.
CREATE FUNCTION renkei_audit_trail(before_id bigint, max_rows integer) RETURNS SETOF audit_log
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT * FROM audit_log
   WHERE (renkei_role() = 'national'
          OR (renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture()))
     AND id < coalesce(before_id, 9223372036854775807)
   ORDER BY id DESC
   LIMIT least(max_rows, 1000)
$$;

REVOKE ALL ON FUNCTION renkei_audit_trail(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION renkei_audit_trail(bigint, integer) TO renkei_app;
-- Insert only: no SELECT, UPDATE or DELETE for the application. Whatever it sends for id, at
-- and the hashes, the trigger overwrites.
GRANT INSERT ON audit_log TO renkei_app;
