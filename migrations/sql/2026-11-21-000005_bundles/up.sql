-- MHLW reporting bundles: requested through the API or on a schedule, built by the worker,
-- stored here and downloaded by those allowed to see them.

CREATE TABLE bundles (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- NULL for a national bundle.
  prefecture_code smallint REFERENCES prefectures (code),
  fiscal_year     smallint NOT NULL CHECK (fiscal_year BETWEEN 2020 AND 2100),
  status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'ready', 'failed')),
  requested_by    text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  ready_at        timestamptz,
  sha256          text,
  size_bytes      integer,
  content         bytea,
  error           text
);
CREATE INDEX bundles_scope ON bundles (prefecture_code, fiscal_year, created_at DESC);

ALTER TABLE bundles ENABLE ROW LEVEL SECURITY;
ALTER TABLE bundles FORCE ROW LEVEL SECURITY;
-- The ministry sees every bundle; a prefecture official its prefecture's.
CREATE POLICY bundles_read ON bundles FOR SELECT USING (
  renkei_role() = 'national' OR (renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture())
);
CREATE POLICY bundles_insert ON bundles FOR INSERT WITH CHECK (
  renkei_role() = 'national' OR (renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture())
);
CREATE POLICY bundles_update ON bundles FOR UPDATE
  USING (renkei_role() = 'national') WITH CHECK (renkei_role() = 'national');

GRANT SELECT, INSERT, UPDATE ON bundles TO renkei_app;
