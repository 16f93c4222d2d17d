DROP TABLE inspections;
DROP TABLE submission_windows;
