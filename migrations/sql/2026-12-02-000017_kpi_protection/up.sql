-- The key of the KPI noise (core/src/kpis/protection.rs): one random secret per installation,
-- so that every replica and every restart perturbs a cell alike, and nobody outside can work
-- the noise out. gen_random_uuid draws from the server's strong random source.
CREATE TABLE kpi_noise_key (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  secret   text NOT NULL
);
INSERT INTO kpi_noise_key (secret)
SELECT replace(gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text, '-', '');

-- Read by the KPI engine for the roles it answers; nobody changes it.
ALTER TABLE kpi_noise_key ENABLE ROW LEVEL SECURITY;
ALTER TABLE kpi_noise_key FORCE ROW LEVEL SECURITY;
CREATE POLICY kpi_noise_key_read ON kpi_noise_key FOR SELECT USING (
  renkei_role() IN ('prefecture', 'health_centre', 'hospital_admin', 'hospital_staff', 'dashboard')
);
GRANT SELECT ON kpi_noise_key TO renkei_app;
