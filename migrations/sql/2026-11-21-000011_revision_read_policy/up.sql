-- A submitted revision is readable with its submission. As `submission_id IN (SELECT id FROM
-- submissions)` PostgreSQL hashed every visible submission (80,000 nationally, 30 ms) for each
-- statement that touched a revision, the KPI refresh on every submit among them; a correlated
-- EXISTS looks up the one submission by its key, and the ministry, who sees every submission,
-- skips the lookup.
DROP POLICY submission_revisions_read ON submission_revisions;
CREATE POLICY submission_revisions_read ON submission_revisions FOR SELECT USING (
  renkei_role() = 'national' OR EXISTS (SELECT 1 FROM submissions s WHERE s.id = submission_id)
);
