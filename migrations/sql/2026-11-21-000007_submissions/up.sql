-- Checklist submissions: one per organisation × catalog (× vendor for the vendor form). Answers
-- are edited as a draft; submitting freezes them as a numbered revision that never changes, and a
-- correction is a new revision. Health centres review (accept, or return with comments per item).

CREATE TABLE submissions (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  hospital_id     uuid NOT NULL REFERENCES organisations (id),
  catalog_id      uuid NOT NULL REFERENCES checklist_catalogs (id),
  -- The vendor filling the vendor form for this hospital; NULL for the other forms.
  vendor_id       uuid REFERENCES organisations (id),
  -- Copied from the hospital, so that policies need no look-up.
  prefecture_code smallint NOT NULL REFERENCES prefectures (code),
  jurisdiction_id uuid REFERENCES organisations (id),
  status          text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'submitted', 'reviewed', 'returned')),
  draft_answers   jsonb NOT NULL DEFAULT '[]',
  -- The number of the latest submitted revision (0 before the first).
  revision        integer NOT NULL DEFAULT 0,
  updated_by      text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX submissions_one_per_form
  ON submissions (hospital_id, catalog_id, coalesce(vendor_id, '00000000-0000-0000-0000-000000000000'));
CREATE INDEX submissions_prefecture ON submissions (prefecture_code, catalog_id);
CREATE INDEX submissions_jurisdiction ON submissions (jurisdiction_id, catalog_id);
CREATE TRIGGER submissions_updated_at BEFORE UPDATE ON submissions
  FOR EACH ROW EXECUTE FUNCTION renkei_touch_updated_at();

CREATE TABLE submission_revisions (
  submission_id   uuid NOT NULL REFERENCES submissions (id),
  revision        integer NOT NULL CHECK (revision >= 1),
  answers         jsonb NOT NULL,
  submitted_by    text NOT NULL,
  submitted_at    timestamptz NOT NULL DEFAULT now(),
  review_outcome  text CHECK (review_outcome IN ('accepted', 'returned')),
  review_comments jsonb NOT NULL DEFAULT '[]',
  reviewed_by     text,
  reviewed_at     timestamptz,
  PRIMARY KEY (submission_id, revision)
);

ALTER TABLE submissions ENABLE ROW LEVEL SECURITY;
ALTER TABLE submissions FORCE ROW LEVEL SECURITY;
ALTER TABLE submission_revisions ENABLE ROW LEVEL SECURITY;
ALTER TABLE submission_revisions FORCE ROW LEVEL SECURITY;

-- The ministry sees all, a prefecture its own, a health centre its jurisdiction's, a hospital its
-- own (the vendor form included), a vendor only the forms it fills.
CREATE POLICY submissions_read ON submissions FOR SELECT USING (
  CASE renkei_role()
    WHEN 'national' THEN true
    WHEN 'prefecture' THEN prefecture_code = renkei_prefecture()
    WHEN 'health_centre' THEN jurisdiction_id = renkei_org()
    WHEN 'hospital_admin' THEN hospital_id = renkei_org()
    WHEN 'hospital_staff' THEN hospital_id = renkei_org()
    WHEN 'vendor' THEN vendor_id = renkei_org()
    ELSE false
  END
);
CREATE POLICY submissions_insert ON submissions FOR INSERT WITH CHECK (
  (renkei_role() = 'hospital_admin' AND hospital_id = renkei_org() AND vendor_id IS NULL)
  OR (renkei_role() = 'vendor' AND vendor_id = renkei_org())
);
-- The filler edits and submits; the health centre or prefecture reviews.
CREATE POLICY submissions_update ON submissions FOR UPDATE
  USING (
    (renkei_role() = 'hospital_admin' AND hospital_id = renkei_org() AND vendor_id IS NULL)
    OR (renkei_role() = 'vendor' AND vendor_id = renkei_org())
    OR (renkei_role() = 'health_centre' AND jurisdiction_id = renkei_org())
    OR (renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture())
  )
  WITH CHECK (
    (renkei_role() = 'hospital_admin' AND hospital_id = renkei_org() AND vendor_id IS NULL)
    OR (renkei_role() = 'vendor' AND vendor_id = renkei_org())
    OR (renkei_role() = 'health_centre' AND jurisdiction_id = renkei_org())
    OR (renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture())
  );
CREATE POLICY submission_revisions_read ON submission_revisions FOR SELECT USING (submission_id IN (SELECT id FROM submissions));
CREATE POLICY submission_revisions_insert ON submission_revisions FOR INSERT WITH CHECK (
  submission_id IN (SELECT id FROM submissions WHERE
    (renkei_role() = 'hospital_admin' AND hospital_id = renkei_org() AND vendor_id IS NULL)
    OR (renkei_role() = 'vendor' AND vendor_id = renkei_org()))
);
-- A revision's answers never change; only its review is written, by the reviewers.
CREATE POLICY submission_revisions_review ON submission_revisions FOR UPDATE
  USING (submission_id IN (SELECT id FROM submissions WHERE
    (renkei_role() = 'health_centre' AND jurisdiction_id = renkei_org())
    OR (renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture())))
  WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE ON submissions TO renkei_app;
GRANT SELECT, INSERT ON submission_revisions TO renkei_app;
GRANT UPDATE (review_outcome, review_comments, reviewed_by, reviewed_at) ON submission_revisions TO renkei_app;
