-- Row-level security on every table that holds tenant data, and every SECURITY DEFINER function
-- checking its caller's settings. Before this, the application login with no `renkei.*` settings
-- read the job queue (mail payloads: recipients, hospital names, incident titles), the mail
-- deliveries and the unsuppressed KPI sums (cells of one hospital among them), got every small
-- KPI cell from kpi_fine_cells, and could call kpi_refresh and delete jobs.
--
-- The worker acts as the ministry (`Principal::system`), so "national" below is the worker too.
-- The schema owner, who runs these migrations (CURRENT_USER here), is bound by FORCE as well:
-- its functions keep the aggregates and the audit chain through policies of their own.
-- A definer function refuses a caller it does not serve with "row-level security" in its message
-- (SQLSTATE 42501), which the API answers as FORBIDDEN; the resolvers refuse such callers first.

-- The job queue. Requests queue jobs for whoever they act for; the worker claims, finishes and
-- cleans them; a prefecture official sees, and may retry, the jobs whose payload names the
-- prefecture (`deadJobs`, `retryJob`), which the resolver used to be alone in filtering.
ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY jobs_read ON jobs FOR SELECT USING (
  renkei_role() = 'national'
  OR (renkei_role() = 'prefecture' AND payload->>'prefecture' = renkei_prefecture()::text)
);
CREATE POLICY jobs_insert ON jobs FOR INSERT WITH CHECK (renkei_role() IS NOT NULL);
CREATE POLICY jobs_update ON jobs FOR UPDATE
  USING (
    renkei_role() = 'national'
    OR (renkei_role() = 'prefecture' AND dead_at IS NOT NULL AND payload->>'prefecture' = renkei_prefecture()::text)
  )
  WITH CHECK (
    renkei_role() = 'national'
    OR (renkei_role() = 'prefecture' AND payload->>'prefecture' = renkei_prefecture()::text)
  );
-- Only finished jobs are ever removed (the worker's clean-up); a queued one never.
CREATE POLICY jobs_delete ON jobs FOR DELETE USING (renkei_role() = 'national' AND finished_at IS NOT NULL);
-- What a job is (kind, payload, key, trace) is fixed when it is queued; claiming, finishing,
-- failing and retrying change only its bookkeeping.
REVOKE UPDATE ON jobs FROM renkei_app;
GRANT UPDATE (run_at, attempts, last_error, locked_by, locked_until, finished_at, dead_at) ON jobs TO renkei_app;

-- Mails sent: the worker's record, no one else's business.
ALTER TABLE email_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY email_deliveries_read ON email_deliveries FOR SELECT USING (renkei_role() = 'national');
CREATE POLICY email_deliveries_insert ON email_deliveries FOR INSERT WITH CHECK (renkei_role() = 'national');

-- The KPI sums hold cells of one to four hospitals, unsuppressed: only the roles the KPI engine
-- answers may read them, and the engine suppresses small cells before anything leaves it. The
-- owner's functions (kpi_refresh, kpi_rebuild through kpi_facts_apply) keep them as the ministry.
ALTER TABLE kpi_cells ENABLE ROW LEVEL SECURITY;
ALTER TABLE kpi_cells FORCE ROW LEVEL SECURITY;
CREATE POLICY kpi_cells_read ON kpi_cells FOR SELECT USING (
  renkei_role() IN ('national', 'prefecture', 'health_centre', 'hospital_admin', 'hospital_staff', 'dashboard')
);
CREATE POLICY kpi_cells_upkeep ON kpi_cells FOR ALL TO CURRENT_USER
  USING (renkei_role() = 'national') WITH CHECK (renkei_role() = 'national');
ALTER TABLE kpi_open_targets ENABLE ROW LEVEL SECURITY;
ALTER TABLE kpi_open_targets FORCE ROW LEVEL SECURITY;
CREATE POLICY kpi_open_targets_read ON kpi_open_targets FOR SELECT USING (
  renkei_role() IN ('national', 'prefecture', 'health_centre', 'hospital_admin', 'hospital_staff', 'dashboard')
);
CREATE POLICY kpi_open_targets_upkeep ON kpi_open_targets FOR ALL TO CURRENT_USER
  USING (renkei_role() = 'national') WITH CHECK (renkei_role() = 'national');

-- The audit log: the application still has no SELECT, UPDATE or DELETE on it. A request records
-- what its own caller did; the chain trigger (newest row), `renkei-api audit verify` (every row)
-- and renkei_audit_trail (which applies the tenant rules itself) read as the owner, which may
-- not change a row either.
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_insert ON audit_log FOR INSERT WITH CHECK (actor = renkei_subject() AND role = renkei_role());
CREATE POLICY audit_log_owner_read ON audit_log FOR SELECT TO CURRENT_USER USING (true);

-- Definer functions that only triggers call: nobody calls them directly (a trigger fires whatever
-- the caller may execute).
REVOKE ALL ON FUNCTION renkei_audit_chain() FROM PUBLIC;
REVOKE ALL ON FUNCTION kpi_on_catalog() FROM PUBLIC;
REVOKE ALL ON FUNCTION kpi_generation_bump() FROM PUBLIC;

-- kpi_refresh recomputes a hospital's facts as the ministry. Only the triggers on revisions,
-- organisations and designations need it: they run as the owner now (seeing what their caller
-- sees: the owner is bound by the same policies), and the application may not call it.
ALTER FUNCTION kpi_on_revision() SECURITY DEFINER SET search_path = public;
ALTER FUNCTION kpi_on_organisation() SECURITY DEFINER SET search_path = public;
ALTER FUNCTION kpi_on_designation() SECURITY DEFINER SET search_path = public;
REVOKE ALL ON FUNCTION kpi_on_revision() FROM PUBLIC;
REVOKE ALL ON FUNCTION kpi_on_organisation() FROM PUBLIC;
REVOKE ALL ON FUNCTION kpi_on_designation() FROM PUBLIC;
REVOKE ALL ON FUNCTION kpi_refresh(uuid, smallint) FROM PUBLIC;

-- Every hospital's contributions with the national view, for the roles the KPI engine answers; a
-- jurisdiction's only for those who oversee it (the same rule as `kpis::report`: the ministry, the
-- health centre itself, a prefecture that sees the centre), since anyone else could subtract them
-- from the prefecture's figures.
CREATE OR REPLACE FUNCTION kpi_fine_cells(years smallint[], jurisdiction uuid, region text, prefecture smallint,
                                          by_function boolean, today date)
RETURNS TABLE (fiscal_year smallint, metric text, prefecture_code smallint, bed_band text, designated boolean,
               function text, numerator bigint, denominator bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  caller text := current_setting('renkei.role', true);
BEGIN
  IF renkei_role() IS NULL OR renkei_role() NOT IN
       ('national', 'prefecture', 'health_centre', 'hospital_admin', 'hospital_staff', 'dashboard')
     OR (jurisdiction IS NOT NULL AND NOT (
       renkei_role() = 'national'
       OR (renkei_role() = 'health_centre' AND jurisdiction = renkei_org())
       -- Under the caller's own settings: the centre is one the official may see.
       OR (renkei_role() = 'prefecture' AND EXISTS (SELECT 1 FROM organisations o WHERE o.id = jurisdiction))
     )) THEN
    RAISE EXCEPTION 'row-level security: % may not read these KPI cells', coalesce(renkei_role(), 'a caller without a role')
      USING ERRCODE = '42501';
  END IF;
  PERFORM set_config('renkei.role', 'national', true);
  RETURN QUERY SELECT * FROM kpi_visible_cells(years, jurisdiction, region, prefecture, by_function, today);
  PERFORM set_config('renkei.role', coalesce(caller, ''), true);
END $$;

-- Designated hospitals per prefecture: counts for those who follow designation coverage.
CREATE OR REPLACE FUNCTION kpi_designated_by_prefecture(day date) RETURNS TABLE (prefecture_code smallint, hospitals bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  caller text := current_setting('renkei.role', true);
BEGIN
  IF renkei_role() IS NULL OR renkei_role() NOT IN ('national', 'prefecture', 'dashboard') THEN
    RAISE EXCEPTION 'row-level security: % may not follow designation coverage',
      coalesce(renkei_role(), 'a caller without a role')
      USING ERRCODE = '42501';
  END IF;
  PERFORM set_config('renkei.role', 'national', true);
  RETURN QUERY
  SELECT o.prefecture_code, count(DISTINCT o.id)
  FROM organisations o JOIN critical_designations d ON d.hospital_id = o.id
  WHERE o.kind = 'hospital' AND d.designated_on <= day AND (d.revoked_on IS NULL OR d.revoked_on > day)
  GROUP BY 1;
  PERFORM set_config('renkei.role', coalesce(caller, ''), true);
END $$;

-- (The deactivated-account check of migration 000013 is gone: 000015's renkei_sign_in resolves
-- the caller from the registry instead.)
