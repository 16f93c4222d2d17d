-- KPIs kept current as data lands, so that dashboards never rescan answers.
--
--   answers ──(kpi_facts_source: one definition)──▶ kpi_facts: one row per hospital × fiscal year
--   kpi_facts ──(kpi_contributions: one definition)──▶ kpi_cells (prefecture × bed band ×
--   designation × metric) and kpi_open_targets ("no" answers still open, by target date)
--
-- Triggers refresh a hospital's facts when a checklist or survey revision is submitted, when the
-- hospital's registry entry or designation changes, and when a new fiscal year's hospital form
-- arrives; a trigger on the facts adds the difference to the cells in the same transaction. The
-- same two definitions rebuild everything from scratch (kpi_rebuild), which the tests compare with.

-- Items the engine reads by meaning rather than by code, so that later years' forms (loaded as
-- data) keep working when they renumber.
-- (The owner is bound by the catalog policies, which allow no update: lift them for this.)
ALTER TABLE checklist_items NO FORCE ROW LEVEL SECURITY;
ALTER TABLE checklist_catalogs NO FORCE ROW LEVEL SECURITY;
UPDATE checklist_items SET kpi = 'backup_methods'
  WHERE code = 'S-3' AND catalog_id IN (SELECT id FROM checklist_catalogs WHERE form = 'survey');
UPDATE checklist_items SET kpi = 'bcp_drill'
  WHERE code = 'S-6' AND catalog_id IN (SELECT id FROM checklist_catalogs WHERE form = 'survey');
UPDATE checklist_items SET kpi = 'dedicated_security_manager'
  WHERE code = 'S-7' AND catalog_id IN (SELECT id FROM checklist_catalogs WHERE form = 'survey');
ALTER TABLE checklist_items FORCE ROW LEVEL SECURITY;
ALTER TABLE checklist_catalogs FORCE ROW LEVEL SECURITY;

CREATE FUNCTION kpi_bed_band(kind text, beds integer) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN kind = 'clinic' OR beds < 20 THEN '<20'
    WHEN beds < 100 THEN '20-99'
    WHEN beds < 200 THEN '100-199'
    WHEN beds < 300 THEN '200-299'
    WHEN beds < 400 THEN '300-399'
    WHEN beds < 500 THEN '400-499'
    ELSE '500+'
  END
$$;

CREATE TABLE kpi_facts (
  fiscal_year        smallint NOT NULL,
  hospital_id        uuid NOT NULL REFERENCES organisations (id),
  prefecture_code    smallint NOT NULL REFERENCES prefectures (code),
  jurisdiction_id    uuid,
  bed_band           text NOT NULL,
  licensed_beds      integer,
  designated         boolean NOT NULL,
  functions          text[] NOT NULL,
  -- A revision of the hospital checklist / the posture survey was submitted for the year.
  submitted          boolean NOT NULL,
  surveyed           boolean NOT NULL,
  ehr_backup         boolean NOT NULL,
  offline_backup     boolean NOT NULL,
  bcp                boolean NOT NULL,
  security_manager   boolean NOT NULL,
  fully_compliant    boolean NOT NULL,
  addon1_ready       boolean NOT NULL,
  -- Yes/no items answered, and those answered yes (the second check's answer when there is one).
  answered_items     text[] NOT NULL,
  yes_items          text[] NOT NULL,
  -- Target dates of checklist "no"s not yet turned into a yes.
  open_targets       date[] NOT NULL,
  PRIMARY KEY (fiscal_year, hospital_id)
);
CREATE INDEX kpi_facts_jurisdiction ON kpi_facts (jurisdiction_id, fiscal_year);
CREATE INDEX kpi_facts_hospital ON kpi_facts (hospital_id);

CREATE TABLE kpi_cells (
  fiscal_year     smallint NOT NULL,
  metric          text NOT NULL,
  prefecture_code smallint NOT NULL,
  bed_band        text NOT NULL,
  designated      boolean NOT NULL,
  numerator       integer NOT NULL,
  denominator     integer NOT NULL,
  PRIMARY KEY (fiscal_year, metric, prefecture_code, bed_band, designated)
);

CREATE TABLE kpi_open_targets (
  fiscal_year     smallint NOT NULL,
  prefecture_code smallint NOT NULL,
  bed_band        text NOT NULL,
  designated      boolean NOT NULL,
  target_on       date NOT NULL,
  answers         integer NOT NULL,
  PRIMARY KEY (fiscal_year, prefecture_code, bed_band, designated, target_on)
);

-- Facts as they follow from the registry and the latest submitted revisions: hospitals for every
-- fiscal year that has a hospital form, clinics for the years they took part in.
CREATE VIEW kpi_facts_source AS
SELECT
  y.fiscal_year,
  o.id AS hospital_id,
  o.prefecture_code,
  o.jurisdiction_id,
  kpi_bed_band(o.kind, o.licensed_beds) AS bed_band,
  o.licensed_beds,
  EXISTS (
    SELECT 1 FROM critical_designations d
    WHERE d.hospital_id = o.id
      AND d.designated_on <= make_date(y.fiscal_year + 1, 3, 31)
      AND (d.revoked_on IS NULL OR d.revoked_on >= make_date(y.fiscal_year, 4, 1))
  ) AS designated,
  o.functions,
  coalesce(a.submitted, false) AS submitted,
  coalesce(a.surveyed, false) AS surveyed,
  coalesce(a.ehr_backup, false) AS ehr_backup,
  coalesce(a.offline_backup, false) AS offline_backup,
  coalesce(a.bcp, false) AS bcp,
  coalesce(a.security_manager, false) AS security_manager,
  coalesce(a.submitted, false) AND a.required_yes = (
    SELECT count(*) FROM checklist_items i
    WHERE i.catalog_id = a.hospital_catalog AND i.status = 'required' AND i.answer_type = 'yes_no'
  ) AS fully_compliant,
  -- 診療録管理体制加算1 (FY2024 fee revision): 200+ beds need a dedicated security manager;
  -- everyone needs backups by two or more methods with one kept offline, and a BCP drilled
  -- within the year up to the end of the fiscal year.
  coalesce(
    (o.licensed_beds < 200 OR a.dedicated_manager)
    AND a.backup_methods >= 2 AND a.offline_backup AND a.bcp
    AND a.last_drill > make_date(y.fiscal_year, 3, 31) AND a.last_drill <= make_date(y.fiscal_year + 1, 3, 31),
    false
  ) AS addon1_ready,
  coalesce(a.answered_items, '{}') AS answered_items,
  coalesce(a.yes_items, '{}') AS yes_items,
  coalesce(a.open_targets, '{}') AS open_targets
FROM organisations o
CROSS JOIN (SELECT DISTINCT fiscal_year FROM checklist_catalogs WHERE form = 'hospital') y
LEFT JOIN LATERAL (
  SELECT
    bool_or(c.form = 'hospital') AS submitted,
    bool_or(c.form = 'survey') AS surveyed,
    (array_agg(c.id) FILTER (WHERE c.form = 'hospital'))[1] AS hospital_catalog,
    bool_or(c.form = 'survey' AND i.kpi = 'ehr_backup' AND coalesce(x.second_value, x.value) = 'yes') AS ehr_backup,
    bool_or(c.form = 'survey' AND i.kpi = 'offline_backup' AND coalesce(x.second_value, x.value) = 'yes') AS offline_backup,
    bool_or(i.kpi = 'bcp' AND coalesce(x.second_value, x.value) = 'yes') AS bcp,
    bool_or(c.form = 'hospital' AND i.kpi = 'security_manager' AND coalesce(x.second_value, x.value) = 'yes')
      AS security_manager,
    bool_or(i.kpi = 'dedicated_security_manager' AND coalesce(x.second_value, x.value) = 'yes') AS dedicated_manager,
    max(jsonb_array_length(coalesce(x."values", '[]'))) FILTER (WHERE i.kpi = 'backup_methods') AS backup_methods,
    max(x.value::date) FILTER (WHERE i.kpi = 'bcp_drill' AND x.value ~ '^\d{4}-\d{2}-\d{2}$') AS last_drill,
    count(*) FILTER (WHERE c.form = 'hospital' AND i.status = 'required' AND i.answer_type = 'yes_no'
                       AND coalesce(x.second_value, x.value) = 'yes') AS required_yes,
    array_agg(i.code ORDER BY i.code) FILTER (WHERE i.answer_type = 'yes_no'
                       AND coalesce(x.second_value, x.value) IN ('yes', 'no')) AS answered_items,
    array_agg(i.code ORDER BY i.code) FILTER (WHERE i.answer_type = 'yes_no'
                       AND coalesce(x.second_value, x.value) = 'yes') AS yes_items,
    array_agg(x.target_on ORDER BY x.target_on) FILTER (WHERE c.form = 'hospital' AND x.value = 'no'
                       AND x.target_on IS NOT NULL AND x.second_value IS DISTINCT FROM 'yes') AS open_targets
  FROM submissions s
  JOIN checklist_catalogs c ON c.id = s.catalog_id AND c.fiscal_year = y.fiscal_year AND c.form IN ('hospital', 'survey')
  JOIN submission_revisions r ON r.submission_id = s.id AND r.revision = s.revision
  CROSS JOIN LATERAL jsonb_to_recordset(r.answers)
    AS x(code text, value text, "values" jsonb, target_on date, second_value text)
  JOIN checklist_items i ON i.catalog_id = c.id AND i.code = x.code
  WHERE s.hospital_id = o.id AND s.vendor_id IS NULL AND s.revision > 0
) a ON true
-- Clinics only for the years they took part: tested before the answers are read, so that the
-- hundred thousand clinics that did not cost nothing.
WHERE o.active AND (
  o.kind = 'hospital'
  OR (o.kind = 'clinic' AND EXISTS (
    SELECT 1 FROM submissions s JOIN checklist_catalogs c ON c.id = s.catalog_id
    WHERE s.hospital_id = o.id AND s.vendor_id IS NULL AND s.revision > 0
      AND c.fiscal_year = y.fiscal_year AND c.form IN ('hospital', 'survey')
  ))
);

-- What one hospital-year adds to each metric: (numerator, denominator). Every aggregate is a sum
-- of these, whichever table it is read from.
CREATE FUNCTION kpi_contributions(
  submitted boolean, surveyed boolean, ehr_backup boolean, offline_backup boolean, bcp boolean,
  security_manager boolean, fully_compliant boolean, addon1_ready boolean, answered_items text[], yes_items text[]
) RETURNS TABLE (metric text, num integer, den integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT v.metric, v.num, v.den FROM (VALUES
    ('submission_rate', submitted::int, 1),
    ('bcp_rate', (bcp AND (submitted OR surveyed))::int, (submitted OR surveyed)::int),
    ('ehr_backup_rate', (surveyed AND ehr_backup)::int, surveyed::int),
    ('offline_backup_rate', (surveyed AND ehr_backup AND offline_backup)::int, (surveyed AND ehr_backup)::int),
    ('security_manager_rate', (submitted AND security_manager)::int, submitted::int),
    ('full_compliance_rate', (submitted AND fully_compliant)::int, submitted::int),
    ('addon1_readiness_rate', addon1_ready::int, 1)
  ) AS v (metric, num, den)
  WHERE v.den > 0
  UNION ALL
  SELECT 'item:' || code, (code = ANY (yes_items))::int, 1 FROM unnest(answered_items) AS code
$$;

-- Adds (sign = 1) or takes away (sign = -1) one hospital-year's contributions.
CREATE FUNCTION kpi_add(f kpi_facts, sign integer) RETURNS void LANGUAGE sql AS $$
  INSERT INTO kpi_cells AS k (fiscal_year, metric, prefecture_code, bed_band, designated, numerator, denominator)
  SELECT f.fiscal_year, c.metric, f.prefecture_code, f.bed_band, f.designated, sign * c.num, sign * c.den
  FROM kpi_contributions(
    f.submitted, f.surveyed, f.ehr_backup, f.offline_backup, f.bcp,
    f.security_manager, f.fully_compliant, f.addon1_ready, f.answered_items, f.yes_items
  ) c
  ON CONFLICT (fiscal_year, metric, prefecture_code, bed_band, designated) DO UPDATE
    SET numerator = k.numerator + excluded.numerator, denominator = k.denominator + excluded.denominator;
  INSERT INTO kpi_open_targets AS k (fiscal_year, prefecture_code, bed_band, designated, target_on, answers)
  SELECT f.fiscal_year, f.prefecture_code, f.bed_band, f.designated, t, sign * count(*)::int
  FROM unnest(f.open_targets) AS t GROUP BY t
  ON CONFLICT (fiscal_year, prefecture_code, bed_band, designated, target_on) DO UPDATE
    SET answers = k.answers + excluded.answers;
$$;

CREATE FUNCTION kpi_facts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM kpi_add(OLD, -1); END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN PERFORM kpi_add(NEW, 1); END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER kpi_facts_apply AFTER INSERT OR UPDATE OR DELETE ON kpi_facts
  FOR EACH ROW EXECUTE FUNCTION kpi_facts_apply();

-- Recomputes one hospital's facts for one fiscal year (or all years when fy is NULL). Runs as
-- the schema owner with the national view: the caller (a hospital submitting, say) cannot see
-- the designations and catalogs the facts depend on, and must not write the facts directly.
CREATE FUNCTION kpi_refresh(h uuid, fy smallint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  caller text := current_setting('renkei.role', true);
BEGIN
  PERFORM set_config('renkei.role', 'national', true);
  -- Rows that did not change are left alone (no churn in the cells); changed ones are replaced.
  DELETE FROM kpi_facts f
   WHERE f.hospital_id = h AND (fy IS NULL OR f.fiscal_year = fy)
     AND NOT EXISTS (
       SELECT 1 FROM kpi_facts_source n
        WHERE n.hospital_id = h AND n.fiscal_year = f.fiscal_year AND row(n.*) IS NOT DISTINCT FROM row(f.*)
     );
  INSERT INTO kpi_facts
  SELECT n.* FROM kpi_facts_source n
   WHERE n.hospital_id = h AND (fy IS NULL OR n.fiscal_year = fy)
     AND NOT EXISTS (SELECT 1 FROM kpi_facts f WHERE f.fiscal_year = n.fiscal_year AND f.hospital_id = h);
  PERFORM set_config('renkei.role', coalesce(caller, ''), true);
END $$;

-- Everything from scratch: the facts from the answers, the cells from the facts.
CREATE FUNCTION kpi_rebuild() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  caller text := current_setting('renkei.role', true);
BEGIN
  PERFORM set_config('renkei.role', 'national', true);
  ALTER TABLE kpi_facts DISABLE TRIGGER kpi_facts_apply;
  DELETE FROM kpi_facts;
  DELETE FROM kpi_cells;
  DELETE FROM kpi_open_targets;
  INSERT INTO kpi_facts SELECT * FROM kpi_facts_source;
  INSERT INTO kpi_cells (fiscal_year, metric, prefecture_code, bed_band, designated, numerator, denominator)
  SELECT f.fiscal_year, c.metric, f.prefecture_code, f.bed_band, f.designated, sum(c.num), sum(c.den)
  FROM kpi_facts f
  CROSS JOIN LATERAL kpi_contributions(
    f.submitted, f.surveyed, f.ehr_backup, f.offline_backup, f.bcp,
    f.security_manager, f.fully_compliant, f.addon1_ready, f.answered_items, f.yes_items
  ) c
  GROUP BY 1, 2, 3, 4, 5;
  INSERT INTO kpi_open_targets (fiscal_year, prefecture_code, bed_band, designated, target_on, answers)
  SELECT f.fiscal_year, f.prefecture_code, f.bed_band, f.designated, t, count(*)
  FROM kpi_facts f CROSS JOIN LATERAL unnest(f.open_targets) AS t
  GROUP BY 1, 2, 3, 4, 5;
  ALTER TABLE kpi_facts ENABLE TRIGGER kpi_facts_apply;
  PERFORM set_config('renkei.role', coalesce(caller, ''), true);
END $$;
REVOKE EXECUTE ON FUNCTION kpi_rebuild() FROM PUBLIC;

-- Where facts come from.
CREATE FUNCTION kpi_on_revision() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  s record;
BEGIN
  SELECT sub.hospital_id, c.fiscal_year, c.form, sub.vendor_id INTO s
    FROM submissions sub JOIN checklist_catalogs c ON c.id = sub.catalog_id
   WHERE sub.id = NEW.submission_id;
  IF s.vendor_id IS NULL AND s.form IN ('hospital', 'survey') THEN
    PERFORM kpi_refresh(s.hospital_id, s.fiscal_year);
  END IF;
  RETURN NULL;
END $$;
-- After the submission row itself moved to the new revision (same transaction, deferred).
CREATE CONSTRAINT TRIGGER kpi_on_revision AFTER INSERT ON submission_revisions
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kpi_on_revision();

CREATE FUNCTION kpi_on_organisation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.kind IN ('hospital', 'clinic') OR (TG_OP = 'UPDATE' AND OLD.kind IN ('hospital', 'clinic')) THEN
    PERFORM kpi_refresh(NEW.id, NULL);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER kpi_on_organisation
  AFTER INSERT OR UPDATE OF kind, prefecture_code, jurisdiction_id, licensed_beds, functions, active ON organisations
  FOR EACH ROW EXECUTE FUNCTION kpi_on_organisation();

CREATE FUNCTION kpi_on_designation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM kpi_refresh(NEW.hospital_id, NULL);
  RETURN NULL;
END $$;
CREATE TRIGGER kpi_on_designation AFTER INSERT OR UPDATE ON critical_designations
  FOR EACH ROW EXECUTE FUNCTION kpi_on_designation();

CREATE FUNCTION kpi_on_catalog() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
DECLARE
  caller text := current_setting('renkei.role', true);
BEGIN
  IF NEW.form = 'hospital' THEN
    PERFORM set_config('renkei.role', 'national', true);
    INSERT INTO kpi_facts SELECT * FROM kpi_facts_source s WHERE s.fiscal_year = NEW.fiscal_year;
    PERFORM set_config('renkei.role', coalesce(caller, ''), true);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER kpi_on_catalog AFTER INSERT ON checklist_catalogs
  FOR EACH ROW EXECUTE FUNCTION kpi_on_catalog();

-- Facility-level facts: read like the organisations they describe (the engine reads aggregates
-- of them through kpi_fine_cells). Aggregated cells hold no hospital's answers: every role reads
-- them, and the engine suppresses small cells for those who may not see the hospitals behind.
ALTER TABLE kpi_facts ENABLE ROW LEVEL SECURITY;
ALTER TABLE kpi_facts FORCE ROW LEVEL SECURITY;
CREATE POLICY kpi_facts_read ON kpi_facts FOR SELECT USING (hospital_id IN (SELECT id FROM organisations));
-- The owner's functions keep the facts; with FORCE they need a policy too.
CREATE POLICY kpi_facts_upkeep ON kpi_facts FOR ALL TO renkei_owner USING (renkei_role() = 'national')
  WITH CHECK (renkei_role() = 'national');
GRANT SELECT ON kpi_facts, kpi_cells, kpi_open_targets TO renkei_app;

-- Aggregates of the facts at the finest grain the engine groups by, for the questions the cells
-- cannot answer (a health centre's jurisdiction; hospital functions, of which a hospital may have
-- several). Reads the facts the caller may see: the engine also uses it to learn what the caller
-- knows anyway, so that suppression does not hide that from it.
CREATE FUNCTION kpi_visible_cells(years smallint[], jurisdiction uuid, region text, prefecture smallint,
                                  by_function boolean, today date)
RETURNS TABLE (fiscal_year smallint, metric text, prefecture_code smallint, bed_band text, designated boolean,
               function text, numerator bigint, denominator bigint)
LANGUAGE sql STABLE AS $$
  WITH scoped AS (
    SELECT f AS fact, fn.function
    FROM kpi_facts f
    JOIN prefectures p ON p.code = f.prefecture_code
    CROSS JOIN LATERAL unnest(CASE WHEN NOT by_function THEN ARRAY[NULL]::text[]
                                   WHEN cardinality(f.functions) = 0 THEN ARRAY['none']
                                   ELSE f.functions END) AS fn (function)
    WHERE f.fiscal_year = ANY (years)
      AND (jurisdiction IS NULL OR f.jurisdiction_id = jurisdiction)
      AND (region IS NULL OR p.region_code = region)
      AND (prefecture IS NULL OR f.prefecture_code = prefecture)
  )
  SELECT (w.fact).fiscal_year, c.metric, (w.fact).prefecture_code, (w.fact).bed_band, (w.fact).designated, w.function,
         sum(c.num), sum(c.den)
  FROM scoped w
  CROSS JOIN LATERAL kpi_contributions(
    (w.fact).submitted, (w.fact).surveyed, (w.fact).ehr_backup, (w.fact).offline_backup,
    (w.fact).bcp, (w.fact).security_manager, (w.fact).fully_compliant, (w.fact).addon1_ready,
    (w.fact).answered_items, (w.fact).yes_items
  ) c
  GROUP BY 1, 2, 3, 4, 5, 6
  UNION ALL
  SELECT (w.fact).fiscal_year, 'overdue_improvements', (w.fact).prefecture_code, (w.fact).bed_band, (w.fact).designated,
         w.function, sum((SELECT count(*) FROM unnest((w.fact).open_targets) t WHERE t < today))::bigint,
         count(*) FILTER (WHERE (w.fact).submitted)
  FROM scoped w
  GROUP BY 1, 2, 3, 4, 5, 6
$$;
GRANT EXECUTE ON FUNCTION kpi_visible_cells(smallint[], uuid, text, smallint, boolean, date) TO renkei_app;

-- The same with the national view: every hospital's contributions, returned only as sums.
CREATE FUNCTION kpi_fine_cells(years smallint[], jurisdiction uuid, region text, prefecture smallint, by_function boolean,
                               today date)
RETURNS TABLE (fiscal_year smallint, metric text, prefecture_code smallint, bed_band text, designated boolean,
               function text, numerator bigint, denominator bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  caller text := current_setting('renkei.role', true);
BEGIN
  PERFORM set_config('renkei.role', 'national', true);
  RETURN QUERY SELECT * FROM kpi_visible_cells(years, jurisdiction, region, prefecture, by_function, today);
  PERFORM set_config('renkei.role', coalesce(caller, ''), true);
END $$;
GRANT EXECUTE ON FUNCTION kpi_fine_cells(smallint[], uuid, text, smallint, boolean, date) TO renkei_app;

-- Designated hospitals in force on a day, per prefecture: public counts, read across prefectures.
CREATE FUNCTION kpi_designated_by_prefecture(day date) RETURNS TABLE (prefecture_code smallint, hospitals bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  caller text := current_setting('renkei.role', true);
BEGIN
  PERFORM set_config('renkei.role', 'national', true);
  RETURN QUERY
  SELECT o.prefecture_code, count(DISTINCT o.id)
  FROM organisations o JOIN critical_designations d ON d.hospital_id = o.id
  WHERE o.kind = 'hospital' AND d.designated_on <= day AND (d.revoked_on IS NULL OR d.revoked_on > day)
  GROUP BY 1;
  PERFORM set_config('renkei.role', coalesce(caller, ''), true);
END $$;
GRANT EXECUTE ON FUNCTION kpi_designated_by_prefecture(date) TO renkei_app;

SELECT kpi_rebuild();
