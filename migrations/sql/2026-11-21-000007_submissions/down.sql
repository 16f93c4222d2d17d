DROP TABLE submission_revisions;
DROP TABLE submissions;
