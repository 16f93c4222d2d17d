DROP TRIGGER organisations_check ON organisations;
CREATE TRIGGER organisations_check BEFORE INSERT OR UPDATE ON organisations
  FOR EACH ROW EXECUTE FUNCTION renkei_touch_updated_at();
