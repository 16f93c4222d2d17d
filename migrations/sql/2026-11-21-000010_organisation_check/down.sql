-- Back to the registry migration as it stands: it binds organisations_check to the check too
-- (the mistaken binding to renkei_touch_updated_at was corrected there as well), so reverting
-- this one must not bring the mistake back. Found by the per-migration up/down/up test.
DROP TRIGGER organisations_check ON organisations;
CREATE TRIGGER organisations_check BEFORE INSERT OR UPDATE ON organisations
  FOR EACH ROW EXECUTE FUNCTION renkei_check_organisation();
