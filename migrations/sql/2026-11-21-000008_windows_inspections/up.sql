-- A prefecture's submission window for a fiscal year, and the health centres' on-site
-- inspections (立入検査) with findings per item and a follow-up date.

CREATE TABLE submission_windows (
  prefecture_code  smallint NOT NULL REFERENCES prefectures (code),
  fiscal_year      smallint NOT NULL CHECK (fiscal_year BETWEEN 2020 AND 2100),
  opens_on         date NOT NULL,
  closes_on        date NOT NULL,
  inspection_from  date,
  inspection_until date,
  set_by           text NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (prefecture_code, fiscal_year),
  CONSTRAINT window_order CHECK (closes_on >= opens_on),
  CONSTRAINT inspection_order CHECK (inspection_until IS NULL OR inspection_from IS NULL OR inspection_until >= inspection_from)
);

CREATE TABLE inspections (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  hospital_id     uuid NOT NULL REFERENCES organisations (id),
  prefecture_code smallint NOT NULL REFERENCES prefectures (code),
  jurisdiction_id uuid NOT NULL REFERENCES organisations (id),
  fiscal_year     smallint NOT NULL CHECK (fiscal_year BETWEEN 2020 AND 2100),
  inspected_on    date NOT NULL,
  inspector       text NOT NULL CHECK (char_length(inspector) BETWEEN 1 AND 100),
  findings        jsonb NOT NULL DEFAULT '[]',
  follow_up_on    date,
  recorded_by     text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT follow_up_after_inspection CHECK (follow_up_on IS NULL OR follow_up_on >= inspected_on)
);
CREATE INDEX inspections_hospital ON inspections (hospital_id, inspected_on DESC);

ALTER TABLE submission_windows ENABLE ROW LEVEL SECURITY;
ALTER TABLE submission_windows FORCE ROW LEVEL SECURITY;
ALTER TABLE inspections ENABLE ROW LEVEL SECURITY;
ALTER TABLE inspections FORCE ROW LEVEL SECURITY;

-- Everyone in a prefecture sees its windows; the prefecture sets them.
CREATE POLICY submission_windows_read ON submission_windows FOR SELECT USING (
  renkei_role() = 'national'
  OR (renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture())
  OR prefecture_code IN (SELECT prefecture_code FROM organisations WHERE id = renkei_org())
);
CREATE POLICY submission_windows_insert ON submission_windows FOR INSERT WITH CHECK (
  renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture()
);
CREATE POLICY submission_windows_update ON submission_windows FOR UPDATE
  USING (renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture())
  WITH CHECK (renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture());

CREATE POLICY inspections_read ON inspections FOR SELECT USING (
  CASE renkei_role()
    WHEN 'national' THEN true
    WHEN 'prefecture' THEN prefecture_code = renkei_prefecture()
    WHEN 'health_centre' THEN jurisdiction_id = renkei_org()
    WHEN 'hospital_admin' THEN hospital_id = renkei_org()
    WHEN 'hospital_staff' THEN hospital_id = renkei_org()
    ELSE false
  END
);
CREATE POLICY inspections_insert ON inspections FOR INSERT WITH CHECK (
  renkei_role() = 'health_centre' AND jurisdiction_id = renkei_org()
);

GRANT SELECT, INSERT, UPDATE ON submission_windows TO renkei_app;
GRANT SELECT, INSERT ON inspections TO renkei_app;
