CREATE OR REPLACE FUNCTION renkei_audit_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
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
DROP TABLE audit_head;
