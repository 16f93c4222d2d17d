DROP FUNCTION renkei_memberships();
DROP FUNCTION renkei_sign_in(text, text, uuid, text, text);

CREATE FUNCTION renkei_subject_deactivated(who text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  caller text := current_setting('renkei.role', true);
  result boolean;
BEGIN
  PERFORM set_config('renkei.role', 'national', true);
  SELECT NOT u.active INTO result FROM users u WHERE u.subject = who;
  PERFORM set_config('renkei.role', coalesce(caller, ''), true);
  RETURN coalesce(result, false);
END $$;
REVOKE ALL ON FUNCTION renkei_subject_deactivated(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION renkei_subject_deactivated(text) TO renkei_app;

ALTER TABLE organisations DROP CONSTRAINT organisations_code_prefecture;
DROP INDEX organisations_gmis_id_key;
ALTER TABLE organisations ADD CONSTRAINT organisations_gmis_id_key UNIQUE (gmis_id);

DROP INDEX users_pending;
DROP INDEX users_by_subject;
DROP INDEX users_email;
DROP INDEX users_subject_key;
CREATE UNIQUE INDEX users_email ON users (lower(email));
UPDATE users SET subject = id::text WHERE subject IS NULL;
ALTER TABLE users ADD CONSTRAINT users_subject_key UNIQUE (subject);
ALTER TABLE users DROP COLUMN bound_at;
ALTER TABLE users DROP COLUMN issuer;
ALTER TABLE users ALTER COLUMN subject SET NOT NULL;
