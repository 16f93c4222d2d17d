DROP POLICY submission_revisions_read ON submission_revisions;
CREATE POLICY submission_revisions_read ON submission_revisions FOR SELECT USING (submission_id IN (SELECT id FROM submissions));
