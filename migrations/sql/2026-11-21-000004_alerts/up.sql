-- What the worker needs to send alerts: who wants which alert, and a record of every e-mail
-- sent, keyed so that a retried job never sends the same message twice.

CREATE TABLE user_alert_preferences (
  user_id uuid NOT NULL REFERENCES users (id),
  alert   text NOT NULL CHECK (alert IN ('incident_created', 'incident_phase_changed', 'incident_clock', 'designation_coverage')),
  enabled boolean NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, alert)
);

ALTER TABLE user_alert_preferences ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_alert_preferences FORCE ROW LEVEL SECURITY;
-- Each person reads and sets their own; the worker reads them all as the ministry.
CREATE POLICY user_alert_preferences_read ON user_alert_preferences FOR SELECT USING (
  renkei_role() = 'national' OR user_id IN (SELECT id FROM users WHERE subject = renkei_subject())
);
CREATE POLICY user_alert_preferences_insert ON user_alert_preferences FOR INSERT WITH CHECK (
  user_id IN (SELECT id FROM users WHERE subject = renkei_subject())
);
CREATE POLICY user_alert_preferences_update ON user_alert_preferences FOR UPDATE
  USING (user_id IN (SELECT id FROM users WHERE subject = renkei_subject()))
  WITH CHECK (user_id IN (SELECT id FROM users WHERE subject = renkei_subject()));

CREATE TABLE email_deliveries (
  -- The message's idempotency key: alert, subject matter and recipient.
  key        text PRIMARY KEY,
  job_id     bigint NOT NULL,
  recipient  text NOT NULL,
  subject    text NOT NULL,
  sent_at    timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE ON user_alert_preferences TO renkei_app;
GRANT SELECT, INSERT ON email_deliveries TO renkei_app;
-- Finished jobs are cleaned up after a while.
GRANT DELETE ON jobs TO renkei_app;
