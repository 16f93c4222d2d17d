-- The national KPI report for FY2024 (every headline KPI × bed band × prefecture) computed by
-- PostgreSQL alone from the raw answers: the latest submitted revision of each hospital's
-- checklist and survey (JSON), the catalogs, the registry and the designations, in one set-based
-- query. The benchmark's reference for what the GraphQL report costs on top of the database.
WITH latest AS (
  SELECT s.hospital_id, c.form, c.id AS catalog_id, r.answers
  FROM submissions s
  JOIN checklist_catalogs c ON c.id = s.catalog_id AND c.fiscal_year = 2024 AND c.form IN ('hospital', 'survey')
  JOIN submission_revisions r ON r.submission_id = s.id AND r.revision = s.revision
  WHERE s.vendor_id IS NULL AND s.revision > 0
), answers AS (
  SELECT l.hospital_id, l.form, i.kpi, i.status, i.answer_type, x.value, x."values", x.target_on, x.second_value,
         coalesce(x.second_value, x.value) AS answer
  FROM latest l
  CROSS JOIN LATERAL jsonb_to_recordset(l.answers)
    AS x (code text, value text, "values" jsonb, target_on date, second_value text)
  JOIN checklist_items i ON i.catalog_id = l.catalog_id AND i.code = x.code
), required AS (
  SELECT count(*) AS n FROM checklist_items i JOIN checklist_catalogs c ON c.id = i.catalog_id
  WHERE c.fiscal_year = 2024 AND c.form = 'hospital' AND i.status = 'required' AND i.answer_type = 'yes_no'
), per_hospital AS (
  SELECT hospital_id,
    bool_or(form = 'hospital') AS submitted,
    bool_or(form = 'survey') AS surveyed,
    bool_or(form = 'survey' AND kpi = 'ehr_backup' AND answer = 'yes') AS ehr_backup,
    bool_or(form = 'survey' AND kpi = 'offline_backup' AND answer = 'yes') AS offline_backup,
    bool_or(kpi = 'bcp' AND answer = 'yes') AS bcp,
    bool_or(form = 'hospital' AND kpi = 'security_manager' AND answer = 'yes') AS security_manager,
    bool_or(kpi = 'dedicated_security_manager' AND answer = 'yes') AS dedicated_manager,
    max(jsonb_array_length(coalesce("values", '[]'))) FILTER (WHERE kpi = 'backup_methods') AS backup_methods,
    max(value::date) FILTER (WHERE kpi = 'bcp_drill' AND value ~ '^\d{4}-\d{2}-\d{2}$') AS last_drill,
    count(*) FILTER (WHERE form = 'hospital' AND status = 'required' AND answer_type = 'yes_no' AND answer = 'yes')
      AS required_yes,
    count(*) FILTER (WHERE form = 'hospital' AND value = 'no' AND target_on < current_date
                       AND second_value IS DISTINCT FROM 'yes') AS overdue
  FROM answers GROUP BY hospital_id
), hospitals AS (
  SELECT o.prefecture_code, kpi_bed_band(o.kind, o.licensed_beds) AS bed_band, o.licensed_beds,
         coalesce(p.submitted, false) AS submitted, coalesce(p.surveyed, false) AS surveyed,
         coalesce(p.ehr_backup, false) AS ehr_backup, coalesce(p.offline_backup, false) AS offline_backup,
         coalesce(p.bcp, false) AS bcp, coalesce(p.security_manager, false) AS security_manager,
         coalesce(p.submitted AND p.required_yes = (SELECT n FROM required), false) AS fully_compliant,
         coalesce((o.licensed_beds < 200 OR p.dedicated_manager) AND p.backup_methods >= 2 AND p.offline_backup
                  AND p.bcp AND p.last_drill > DATE '2024-03-31' AND p.last_drill <= DATE '2025-03-31', false) AS addon1,
         coalesce(p.overdue, 0) AS overdue
  FROM organisations o LEFT JOIN per_hospital p ON p.hospital_id = o.id
  WHERE o.active AND (o.kind = 'hospital' OR (o.kind = 'clinic' AND p.hospital_id IS NOT NULL))
)
SELECT bed_band, prefecture_code,
  count(*) FILTER (WHERE submitted) AS submission_num, count(*) AS submission_den,
  count(*) FILTER (WHERE bcp AND (submitted OR surveyed)) AS bcp_num, count(*) FILTER (WHERE submitted OR surveyed) AS bcp_den,
  count(*) FILTER (WHERE surveyed AND ehr_backup) AS ehr_num, count(*) FILTER (WHERE surveyed) AS ehr_den,
  count(*) FILTER (WHERE surveyed AND ehr_backup AND offline_backup) AS offline_num,
  count(*) FILTER (WHERE surveyed AND ehr_backup) AS offline_den,
  count(*) FILTER (WHERE submitted AND security_manager) AS manager_num,
  count(*) FILTER (WHERE submitted AND fully_compliant) AS compliance_num,
  sum(overdue) FILTER (WHERE submitted) AS overdue_num,
  count(*) FILTER (WHERE addon1) AS addon1_num
FROM hospitals
GROUP BY bed_band, prefecture_code
