-- The audit chain's head, kept beside the chain. A changed or removed row breaks a hash or a link
-- further on, but removing the newest rows leaves no link behind to break: `renkei-api audit
-- verify` also checks that the chain ends where this checkpoint says. Only the chain trigger
-- (running as the owner) writes it; the application role has no privilege on it at all.
CREATE TABLE audit_head (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  id       bigint NOT NULL,
  hash     bytea NOT NULL
);
INSERT INTO audit_head (id, hash) SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1;

ALTER TABLE audit_head ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_head FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_head_owner ON audit_head TO CURRENT_USER USING (true) WITH CHECK (true);

-- The chain continues from the checkpoint, and moves it, under the same lock.
CREATE OR REPLACE FUNCTION renkei_audit_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
DECLARE
  last record;
BEGIN
  -- One writer at a time until commit: the next entry reads this one's hash.
  PERFORM pg_advisory_xact_lock(7272701);
  SELECT id, hash INTO last FROM audit_head;
  NEW.id := coalesce(last.id, 0) + 1;
  NEW.at := clock_timestamp();
  NEW.prev_hash := coalesce(last.hash, '\x'::bytea);
  NEW.hash := sha256(NEW.prev_hash || convert_to(renkei_audit_canonical(NEW), 'UTF8'));
  INSERT INTO audit_head (id, hash) VALUES (NEW.id, NEW.hash)
    ON CONFLICT (only_row) DO UPDATE SET id = EXCLUDED.id, hash = EXCLUDED.hash;
  RETURN NEW;
END
$$;
