-- A synthetic national dataset: 8,205 hospitals and {clinics} clinics over fiscal years 2023–2025,
-- with checklists, posture surveys, designations and incidents, shaped like the published figures
-- (reference/survey-2024.tsv, figures.md). Run by `renkei-api seed national` as the schema owner
-- in one transaction; deterministic (every "random" choice is a hash of a name).
--
-- The FY2024 survey reproduces survey-2024.tsv exactly: per bed band, the hospitals asked (with a
-- G-MIS id), the valid answers and those making EHR backups; 52% of the latter keep an offline
-- backup and 27% of respondents have a cyber BCP (23% in FY2023).

SELECT set_config('renkei.role', 'national', true);
-- Bulk rows are written as the owner: the policies are for the application, and the KPI
-- aggregates are rebuilt once at the end rather than row by row. The ALTERs are part of this
-- transaction (and lock the tables until it commits), so no other session ever sees the tables
-- without FORCE or without their KPI triggers.
ALTER TABLE organisations DISABLE TRIGGER kpi_on_organisation;
ALTER TABLE critical_designations DISABLE TRIGGER kpi_on_designation;
ALTER TABLE checklist_catalogs DISABLE TRIGGER kpi_on_catalog;
ALTER TABLE submission_revisions DISABLE TRIGGER kpi_on_revision;
ALTER TABLE organisations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE critical_designations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE checklist_catalogs NO FORCE ROW LEVEL SECURITY;
ALTER TABLE checklist_items NO FORCE ROW LEVEL SECURITY;
ALTER TABLE submissions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE submission_revisions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE incidents NO FORCE ROW LEVEL SECURITY;
ALTER TABLE incident_versions NO FORCE ROW LEVEL SECURITY;

-- A number in [0, 1) from a name.
CREATE FUNCTION pg_temp.u(k text) RETURNS float8 LANGUAGE sql IMMUTABLE AS
  $$ SELECT ('x' || substr(md5(k), 1, 8))::bit(32)::bigint / 4294967296.0 $$;

-- Hospitals per prefecture, roughly as in the national registry (weights).
CREATE TEMP TABLE nat_prefecture ON COMMIT DROP AS
SELECT code::smallint AS code, weight,
       sum(weight) OVER (ORDER BY code) - weight AS lo, sum(weight) OVER (ORDER BY code) AS hi,
       greatest(2, weight / 15) AS centres
FROM unnest(ARRAY[540,92,92,136,67,67,125,173,106,127,343,288,638,338,125,106,91,67,60,127,97,171,319,93,57,
                  163,505,347,75,82,43,47,160,235,141,106,88,136,121,455,98,147,208,153,136,234,89])
     WITH ORDINALITY AS w (weight, code);

CREATE TEMP TABLE nat_centre ON COMMIT DROP AS
SELECT p.code AS prefecture_code, k, gen_random_uuid() AS id
FROM nat_prefecture p CROSS JOIN LATERAL generate_series(1, p.centres) AS k;

INSERT INTO organisations (id, kind, name, prefecture_code)
SELECT c.id, 'health_centre', pr.name_ja || '第' || c.k || '保健所（全国データ）', c.prefecture_code
FROM nat_centre c JOIN prefectures pr ON pr.code = c.prefecture_code;

-- The bed bands of survey-2024.tsv: hospitals asked (with a G-MIS id), valid answers, EHR backups;
-- 34 hospitals without a G-MIS id make the 8,205.
CREATE TEMP TABLE nat_band ON COMMIT DROP AS
SELECT * FROM (VALUES
  ('20-99', 20, 99, 2940, 1794, 988, 34),
  ('100-199', 100, 199, 2810, 1816, 1254, 0),
  ('200-299', 200, 299, 1015, 698, 516, 0),
  ('300-399', 300, 399, 673, 474, 409, 0),
  ('400-499', 400, 499, 357, 270, 244, 0),
  ('500+', 500, 1200, 376, 301, 291, 0)
) AS b (band, lo, hi, asked, valid, ehr, without_gmis);

CREATE TEMP TABLE nat_hospital ON COMMIT DROP AS
WITH numbered AS (
  SELECT b.band, b.lo, b.hi, n, n <= b.asked AS gmis,
         row_number() OVER (ORDER BY b.lo, n) AS seq
  FROM nat_band b CROSS JOIN LATERAL generate_series(1, b.asked + b.without_gmis) AS n
)
SELECT gen_random_uuid() AS id, seq, band, gmis,
       lo + floor(pg_temp.u('beds' || seq) * (hi - lo + 1))::int AS beds,
       (SELECT code FROM nat_prefecture p WHERE pg_temp.u('pref' || seq) * 8214 >= p.lo
          AND pg_temp.u('pref' || seq) * 8214 < p.hi) AS prefecture_code
FROM numbered;

INSERT INTO organisations (id, kind, name, prefecture_code, jurisdiction_id, licensed_beds, functions, ehr_in_use,
                           medical_institution_code, gmis_id)
SELECT h.id, 'hospital', '全国データ病院' || lpad(h.seq::text, 5, '0'), h.prefecture_code,
       (SELECT c.id FROM nat_centre c JOIN nat_prefecture p ON p.code = c.prefecture_code
         WHERE c.prefecture_code = h.prefecture_code
           AND c.k = 1 + floor(pg_temp.u('centre' || h.seq) * p.centres)::int),
       h.beds,
       CASE
         WHEN h.beds >= 400 AND pg_temp.u('fn' || h.seq) < 0.5 THEN ARRAY['disaster_base', 'tertiary_emergency']
         WHEN h.beds >= 200 AND pg_temp.u('fn' || h.seq) < 0.4 THEN ARRAY['disaster_base', 'secondary_emergency']
         WHEN h.beds >= 100 AND pg_temp.u('fn' || h.seq) < 0.3 THEN ARRAY['secondary_emergency']
         WHEN pg_temp.u('fn' || h.seq) < 0.05 THEN ARRAY['psychiatric_emergency']
         ELSE '{}'::text[]
       END,
       pg_temp.u('ehr' || h.seq) < CASE WHEN h.beds >= 400 THEN 0.94 WHEN h.beds >= 200 THEN 0.79 ELSE 0.59 END,
       lpad(h.prefecture_code::text, 2, '0') || '1' || lpad((9000000 + h.seq)::text, 7, '0'),
       CASE WHEN h.gmis THEN 'NAT-H' || lpad(h.seq::text, 5, '0') END
FROM nat_hospital h;

CREATE TEMP TABLE nat_clinic ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, n AS seq,
       (SELECT code FROM nat_prefecture p WHERE pg_temp.u('cpref' || n) * 8214 >= p.lo
          AND pg_temp.u('cpref' || n) * 8214 < p.hi) AS prefecture_code,
       CASE WHEN pg_temp.u('cbeds' || n) < 0.9 THEN 0 ELSE floor(pg_temp.u('cb' || n) * 20)::int END AS beds
FROM generate_series(1, {clinics}) AS n;

INSERT INTO organisations (id, kind, name, prefecture_code, jurisdiction_id, licensed_beds, medical_institution_code)
SELECT c.id, 'clinic', '全国データ診療所' || lpad(c.seq::text, 6, '0'), c.prefecture_code,
       (SELECT nc.id FROM nat_centre nc JOIN nat_prefecture p ON p.code = nc.prefecture_code
         WHERE nc.prefecture_code = c.prefecture_code
           AND nc.k = 1 + floor(pg_temp.u('ccentre' || c.seq) * p.centres)::int),
       c.beds,
       lpad(c.prefecture_code::text, 2, '0') || '1' || lpad((8000000 + c.seq)::text, 7, '0')
FROM nat_clinic c;

-- FY2025's forms: FY2024's, carried over (a new year is data, as an administrator would load it).
INSERT INTO checklist_catalogs (fiscal_year, form, title)
SELECT 2025, form, replace(title, '2024', '2025') FROM checklist_catalogs
WHERE fiscal_year = 2024 AND form IN ('hospital', 'survey')
  AND NOT EXISTS (SELECT 1 FROM checklist_catalogs c WHERE c.fiscal_year = 2025 AND c.form = checklist_catalogs.form);
INSERT INTO checklist_items (catalog_id, code, position, section_ja, section_en, text_ja, text_en, answer_type,
                             choices, status, note, kpi)
SELECT n.id, i.code, i.position, i.section_ja, i.section_en, i.text_ja, i.text_en, i.answer_type, i.choices,
       i.status, i.note, i.kpi
FROM checklist_items i
JOIN checklist_catalogs o ON o.id = i.catalog_id AND o.fiscal_year = 2024
JOIN checklist_catalogs n ON n.form = o.form AND n.fiscal_year = 2025
WHERE NOT EXISTS (SELECT 1 FROM checklist_items x WHERE x.catalog_id = n.id);

-- Who answers what, per fiscal year. `rank` orders a band's hospitals by a hash so that exact
-- counts can be taken from the top.
CREATE TEMP TABLE nat_year ON COMMIT DROP AS
SELECT * FROM (VALUES
  (2023::smallint, 0.62, 0.66, 0.23, 0.45, 0.75, 0.10),
  (2024::smallint, NULL, NULL, 0.27, 0.52, 0.85, 0.15),
  (2025::smallint, 0.74, 0.74, 0.33, 0.60, 0.90, 0.20)
) AS y (fiscal_year, respond, ehr, bcp, offline, hospital_submit, clinic_submit);

CREATE TEMP TABLE nat_survey ON COMMIT DROP AS
WITH ranked AS (
  SELECT h.*, y.*, b.valid, b.ehr AS ehr_count,
         row_number() OVER (PARTITION BY y.fiscal_year, h.band ORDER BY pg_temp.u('resp' || y.fiscal_year || h.seq)) AS r
  FROM nat_hospital h JOIN nat_band b ON b.band = h.band CROSS JOIN nat_year y
  WHERE h.gmis
), respondents AS (
  SELECT *, row_number() OVER (PARTITION BY fiscal_year, band ORDER BY pg_temp.u('ehr' || fiscal_year || seq)) AS er,
         count(*) OVER (PARTITION BY fiscal_year, band) AS n
  FROM ranked
  WHERE CASE WHEN respond IS NULL THEN r <= valid ELSE pg_temp.u('r' || fiscal_year || seq) < respond END
), with_ehr AS (
  SELECT *, CASE WHEN respond IS NULL THEN er <= ehr_count ELSE pg_temp.u('e' || fiscal_year || seq) < ehr END AS ehr_yes
  FROM respondents
), ordered AS (
  SELECT *,
    row_number() OVER (PARTITION BY fiscal_year, band, ehr_yes ORDER BY pg_temp.u('off' || fiscal_year || seq)) AS orank,
    count(*) OVER (PARTITION BY fiscal_year, band, ehr_yes) AS on_,
    row_number() OVER (PARTITION BY fiscal_year, band ORDER BY pg_temp.u('bcp' || fiscal_year || seq)) AS brank
  FROM with_ehr
)
SELECT id, seq, band, beds, prefecture_code, fiscal_year, ehr_yes,
       ehr_yes AND orank <= round(on_ * offline) AS offline_yes,
       brank <= round(n * bcp) AS bcp_yes
FROM ordered;

-- Answers as the forms store them (the Answer type: code, value, values, check dates).
CREATE TEMP TABLE nat_answers (
  hospital_id uuid, fiscal_year smallint, form text, prefecture_code smallint, answers jsonb
) ON COMMIT DROP;

INSERT INTO nat_answers
SELECT s.id, s.fiscal_year, 'survey', s.prefecture_code, jsonb_build_array(
  jsonb_build_object('code', 'S-1', 'value', CASE WHEN s.ehr_yes THEN 'yes' ELSE 'no' END, 'values', '[]'::jsonb,
                     'checked_on', make_date(s.fiscal_year + 1, 2, 10),
                     'target_on', CASE WHEN s.ehr_yes THEN NULL ELSE make_date(s.fiscal_year + 1, 9, 30) END),
  jsonb_build_object('code', 'S-2', 'value', CASE WHEN s.offline_yes THEN 'yes' ELSE 'no' END, 'values', '[]'::jsonb,
                     'checked_on', make_date(s.fiscal_year + 1, 2, 10),
                     'target_on', CASE WHEN s.offline_yes THEN NULL ELSE make_date(s.fiscal_year + 1, 9, 30) END),
  jsonb_build_object('code', 'S-3', 'values', CASE WHEN s.offline_yes THEN '["external_disk", "lto"]'::jsonb
                                                   WHEN s.ehr_yes THEN '["nas"]'::jsonb ELSE '[]'::jsonb END),
  jsonb_build_object('code', 'S-4', 'value', CASE WHEN pg_temp.u('imm' || s.fiscal_year || s.seq) < 0.3 THEN 'yes' ELSE 'no' END,
                     'values', '[]'::jsonb, 'checked_on', make_date(s.fiscal_year + 1, 2, 10),
                     'target_on', make_date(s.fiscal_year + 1, 12, 31)),
  jsonb_build_object('code', 'S-5', 'value', CASE WHEN s.bcp_yes THEN 'yes' ELSE 'no' END, 'values', '[]'::jsonb,
                     'checked_on', make_date(s.fiscal_year + 1, 2, 10),
                     'target_on', CASE WHEN s.bcp_yes THEN NULL ELSE make_date(s.fiscal_year + 1, 12, 31) END),
  jsonb_build_object('code', 'S-6', 'values', '[]'::jsonb, 'value',
                     CASE WHEN s.bcp_yes AND pg_temp.u('drill' || s.fiscal_year || s.seq) < 0.7
                          THEN make_date(s.fiscal_year, 11, 1 + (s.seq % 28)::int)::text END),
  jsonb_build_object('code', 'S-7', 'values', '[]'::jsonb, 'checked_on', make_date(s.fiscal_year + 1, 2, 10),
                     'value', CASE WHEN pg_temp.u('ded' || s.fiscal_year || s.seq) < CASE WHEN s.beds >= 200 THEN 0.45 ELSE 0.2 END
                                   THEN 'yes' ELSE 'no' END,
                     'target_on', make_date(s.fiscal_year + 1, 12, 31)),
  jsonb_build_object('code', 'S-8', 'values', '[]'::jsonb, 'value', (7 + (s.seq % 41))::text),
  jsonb_build_object('code', 'S-9', 'values', '[]'::jsonb, 'checked_on', make_date(s.fiscal_year + 1, 2, 10),
                     'value', CASE WHEN pg_temp.u('train' || s.fiscal_year || s.seq) < 0.6 THEN 'yes' ELSE 'no' END,
                     'target_on', make_date(s.fiscal_year + 1, 12, 31))
)
FROM nat_survey s;

-- Checklists: hospitals and some clinics; each yes/no item yes with a probability that grows
-- with size and year; 3-3 (BCP) follows the survey; half the "no"s have turned yes at the second check.
CREATE TEMP TABLE nat_fillers ON COMMIT DROP AS
SELECT h.id, h.seq, h.beds, h.prefecture_code, y.fiscal_year, s.bcp_yes
FROM nat_hospital h CROSS JOIN nat_year y
LEFT JOIN nat_survey s ON s.id = h.id AND s.fiscal_year = y.fiscal_year
WHERE pg_temp.u('sub' || y.fiscal_year || h.seq) < y.hospital_submit
UNION ALL
SELECT c.id, 100000 + c.seq, c.beds, c.prefecture_code, y.fiscal_year, NULL
FROM nat_clinic c CROSS JOIN nat_year y
WHERE pg_temp.u('csub' || y.fiscal_year || c.seq) < y.clinic_submit;

INSERT INTO nat_answers
SELECT f.id, f.fiscal_year, 'hospital', f.prefecture_code,
       jsonb_agg(jsonb_build_object(
         'code', i.code, 'value', a.v, 'values', '[]'::jsonb,
         'checked_on', make_date(f.fiscal_year, 6, 1 + (f.seq % 28)::int),
         'target_on', CASE WHEN a.v = 'no' THEN (make_date(f.fiscal_year, 9, 1) + (f.seq % 9) * interval '1 month')::date END,
         'second_checked_on', CASE WHEN a.v = 'no' AND a.second THEN make_date(f.fiscal_year + 1, 2, 1) END,
         'second_value', CASE WHEN a.v = 'no' AND a.second THEN 'yes' END
       ) ORDER BY i.position)
FROM nat_fillers f
JOIN nat_year y ON y.fiscal_year = f.fiscal_year
JOIN checklist_catalogs c ON c.fiscal_year = f.fiscal_year AND c.form = 'hospital'
JOIN checklist_items i ON i.catalog_id = c.id AND i.status <> 'absent' AND i.answer_type = 'yes_no'
CROSS JOIN LATERAL (
  SELECT CASE
    WHEN i.code = '3-3' AND f.bcp_yes IS NOT NULL THEN CASE WHEN f.bcp_yes THEN 'yes' ELSE 'no' END
    WHEN i.code = '3-3' THEN CASE WHEN pg_temp.u('bcp' || f.fiscal_year || f.seq) < y.bcp THEN 'yes' ELSE 'no' END
    WHEN pg_temp.u(i.code || f.fiscal_year || f.seq) <
         0.62 + 0.05 * (f.fiscal_year - 2023) + CASE WHEN f.beds >= 200 THEN 0.2 WHEN f.beds >= 20 THEN 0.12 ELSE 0 END
      THEN 'yes' ELSE 'no' END AS v,
    pg_temp.u('second' || i.code || f.fiscal_year || f.seq) < 0.5 AS second
) a
GROUP BY f.id, f.fiscal_year, f.prefecture_code, f.seq;

CREATE TEMP TABLE nat_submission ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, a.*, c.id AS catalog_id, o.jurisdiction_id,
       CASE WHEN pg_temp.u('rev' || a.fiscal_year || a.form || md5(a.answers::text)) < 0.6 THEN 'reviewed' ELSE 'submitted' END AS status
FROM nat_answers a
JOIN checklist_catalogs c ON c.fiscal_year = a.fiscal_year AND c.form = a.form
JOIN organisations o ON o.id = a.hospital_id;

INSERT INTO submissions (id, hospital_id, catalog_id, prefecture_code, jurisdiction_id, status, draft_answers, revision,
                         updated_by)
SELECT id, hospital_id, catalog_id, prefecture_code, jurisdiction_id, status, answers, 1, 'seed-national'
FROM nat_submission;
INSERT INTO submission_revisions (submission_id, revision, answers, submitted_by, submitted_at, review_outcome,
                                  reviewed_by, reviewed_at)
SELECT id, 1, answers, 'seed-national', make_timestamptz(fiscal_year, 7, 1, 3, 0, 0, 'UTC'),
       CASE WHEN status = 'reviewed' THEN 'accepted' END,
       CASE WHEN status = 'reviewed' THEN 'seed-national' END,
       CASE WHEN status = 'reviewed' THEN make_timestamptz(fiscal_year, 8, 1, 3, 0, 0, 'UTC') END
FROM nat_submission;

-- Designations: the largest hospital of every prefecture but seven, so that coverage has gaps.
INSERT INTO critical_designations (hospital_id, designated_on, note)
SELECT DISTINCT ON (h.prefecture_code) h.id, DATE '2024-04-01', '全国データ'
FROM nat_hospital h
WHERE h.prefecture_code NOT IN (5, 18, 19, 31, 32, 36, 47)
ORDER BY h.prefecture_code, h.beds DESC, h.seq;

-- Incidents: {incidents} over the three years, closed but for the last year's, kinds in rough
-- proportion to reported cases; one report version each (the report JSON from the application).
CREATE TEMP TABLE nat_incident ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, n,
       (ARRAY['ransomware','ransomware','ransomware','phishing','phishing','malware','unauthorised_access',
              'unauthorised_access','dos','near_miss','threat_info'])[1 + (n % 11)] AS kind,
       make_timestamptz(2023, 4, 1, 0, 0, 0, 'UTC') + (pg_temp.u('when' || n) * interval '1094 days') AS discovered_at,
       f.id AS hospital_id
FROM generate_series(1, {incidents}) AS n
JOIN nat_hospital f ON f.seq = 1 + floor(pg_temp.u('who' || n) * 8205)::int;

INSERT INTO incidents (id, hospital_id, prefecture_code, jurisdiction_id, kind, phase, title, discovered_at,
                       suspected_cyber_attack, personal_data_leak, wrongful_intent, reported_by, closed_at)
SELECT i.id, i.hospital_id, o.prefecture_code, o.jurisdiction_id, i.kind,
       CASE WHEN i.discovered_at < now() - interval '60 days' THEN 'closed' ELSE 'recovery' END,
       '全国データのインシデント ' || i.n, i.discovered_at, i.kind NOT IN ('near_miss', 'threat_info'), 'none',
       i.kind IN ('ransomware', 'unauthorised_access', 'malware', 'phishing'), 'seed-national',
       CASE WHEN i.discovered_at < now() - interval '60 days' THEN i.discovered_at + interval '30 days' END
FROM nat_incident i JOIN organisations o ON o.id = i.hospital_id;

INSERT INTO incident_versions (incident_id, version, report_kind, report, submitted_by, submitted_at)
SELECT i.id, 1, 'first',
       {report}::jsonb || jsonb_build_object('kind', i.kind, 'title', '全国データのインシデント ' || i.n,
                                             'discovered_at', i.discovered_at,
                                             'suspected_cyber_attack', i.kind NOT IN ('near_miss', 'threat_info')),
       'seed-national', i.discovered_at
FROM nat_incident i;

ALTER TABLE organisations FORCE ROW LEVEL SECURITY;
ALTER TABLE critical_designations FORCE ROW LEVEL SECURITY;
ALTER TABLE checklist_catalogs FORCE ROW LEVEL SECURITY;
ALTER TABLE checklist_items FORCE ROW LEVEL SECURITY;
ALTER TABLE submissions FORCE ROW LEVEL SECURITY;
ALTER TABLE submission_revisions FORCE ROW LEVEL SECURITY;
ALTER TABLE incidents FORCE ROW LEVEL SECURITY;
ALTER TABLE incident_versions FORCE ROW LEVEL SECURITY;

ALTER TABLE organisations ENABLE TRIGGER kpi_on_organisation;
ALTER TABLE critical_designations ENABLE TRIGGER kpi_on_designation;
ALTER TABLE checklist_catalogs ENABLE TRIGGER kpi_on_catalog;
ALTER TABLE submission_revisions ENABLE TRIGGER kpi_on_revision;
SELECT kpi_rebuild();

-- Fresh statistics, so that the first queries after a load are planned on the real sizes.
ANALYZE organisations;
ANALYZE submissions;
ANALYZE submission_revisions;
ANALYZE kpi_facts;
ANALYZE kpi_cells;
ANALYZE kpi_open_targets;
