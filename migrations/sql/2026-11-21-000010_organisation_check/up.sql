-- The registry migration bound organisations_check to the updated_at function by mistake, so the
-- jurisdiction rule (a health centre of the same prefecture) and the hospital users' field rule
-- were never enforced by the database. Bind it to the check it was written for.
DROP TRIGGER organisations_check ON organisations;
CREATE TRIGGER organisations_check BEFORE INSERT OR UPDATE ON organisations
  FOR EACH ROW EXECUTE FUNCTION renkei_check_organisation();
