-- Every request first asks whether the signed-in subject's account was deactivated. As a tenant
-- transaction (BEGIN, settings, read, COMMIT) it cost four round trips before any work; as this
-- one statement, one. It answers that question only, for any subject, as the application's own
-- check needs.
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
