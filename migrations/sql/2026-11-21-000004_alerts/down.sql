REVOKE DELETE ON jobs FROM renkei_app;
DROP TABLE email_deliveries;
DROP TABLE user_alert_preferences;
