DROP FUNCTION renkei_audit_trail(bigint, integer);
DROP TABLE audit_log CASCADE;
DROP FUNCTION renkei_audit_chain();
