DROP FUNCTION renkei_subject_deactivated(text);
