-- The SQL the Renkei KPI engine runs for
--   kpiReport(fiscalYears: [2024], groupBy: [BED_BAND, PREFECTURE])
-- as the national role (core/src/kpis/mod.rs: `report` → `cells`; a national caller sees every
-- cell whole, so `kpi_visible_cells` is not called), in one transaction that first sets the
-- caller as `set_principal` (core/src/db.rs) does. The engine's bind parameters are written in:
--   $1 years = {2024}, $2 region = NULL, $3 prefecture = NULL, $4 today = today in JST,
--   $5 metrics = the eight headline KPIs + security_manager_rate, $6 with_items = false.
-- Run by bench/peers.py with pgbench (-M prepared by default) as renkei_api on renkei_bench.
BEGIN;
SELECT set_config('renkei.role', 'national', true), set_config('renkei.org', '', true), set_config('renkei.prefecture', '', true), set_config('renkei.subject', 'bench-national', true), set_config('statement_timeout', '5000', true);
WITH scoped AS MATERIALIZED ( SELECT k.* FROM kpi_cells k JOIN prefectures p ON p.code = k.prefecture_code WHERE k.fiscal_year = ANY ('{2024}'::smallint[]) AND (NULL::text IS NULL OR p.region_code = NULL::text) AND (NULL::smallint IS NULL OR k.prefecture_code = NULL::smallint) AND k.denominator > 0 AND (k.metric = ANY ('{submission_rate,bcp_rate,ehr_backup_rate,offline_backup_rate,security_manager_rate,full_compliance_rate,overdue_improvements,addon1_readiness_rate,security_manager_rate}'::text[]) OR (false AND k.metric LIKE 'item:%')) ), overdue AS MATERIALIZED ( SELECT fiscal_year, prefecture_code, bed_band, designated, sum(answers)::bigint AS answers FROM kpi_open_targets WHERE fiscal_year = ANY ('{2024}'::smallint[]) AND target_on < (now() AT TIME ZONE 'Asia/Tokyo')::date GROUP BY 1, 2, 3, 4 ) SELECT fiscal_year, metric, prefecture_code, bed_band, designated, NULL::text AS function, numerator::bigint, denominator::bigint FROM scoped UNION ALL SELECT s.fiscal_year, 'overdue_improvements', s.prefecture_code, s.bed_band, s.designated, NULL, coalesce(o.answers, 0), s.denominator FROM scoped s LEFT JOIN overdue o USING (fiscal_year, prefecture_code, bed_band, designated) WHERE s.metric = 'security_manager_rate';
COMMIT;
