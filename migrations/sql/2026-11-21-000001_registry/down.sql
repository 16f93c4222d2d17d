-- The renkei_app role is cluster-wide and may serve other databases: it stays.
DROP POLICY organisations_read ON organisations;
DROP TABLE critical_designations;
DROP TABLE users;
DROP TABLE vendor_links;
DROP TABLE organisations;
DROP TABLE prefectures;
DROP TABLE regions;
DROP FUNCTION renkei_check_designation();
DROP FUNCTION renkei_check_user();
DROP FUNCTION renkei_check_vendor_link();
DROP FUNCTION renkei_check_organisation();
DROP FUNCTION renkei_touch_updated_at();
DROP FUNCTION renkei_subject();
DROP FUNCTION renkei_prefecture();
DROP FUNCTION renkei_org();
DROP FUNCTION renkei_role();
REVOKE USAGE ON SCHEMA public FROM renkei_app;
REVOKE SELECT ON __diesel_schema_migrations FROM renkei_app;
