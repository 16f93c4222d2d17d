-- Incident reporting along the MHLW incident-response flowchart, the eleven ransomware
-- consideration points, and the jobs table through which incidents raise alerts (the worker
-- consumes it).

-- Reference data: the flowchart (steps 0-1 … 4-9) and the ransomware points.
CREATE TABLE flowchart_steps (
  code       text PRIMARY KEY,
  sort_order smallint NOT NULL UNIQUE,
  phase      text NOT NULL CHECK (phase IN ('preparation', 'detection', 'initial_response', 'recovery', 'post_incident')),
  title_ja   text NOT NULL,
  title_en   text NOT NULL,
  actors     text[] NOT NULL
);

CREATE TABLE ransomware_points (
  no         smallint PRIMARY KEY,
  level      text NOT NULL CHECK (level IN ('must', 'recommended')),
  steps      text[] NOT NULL,
  pitfall_ja text NOT NULL,
  point_ja   text NOT NULL,
  point_en   text NOT NULL
);

INSERT INTO flowchart_steps (code, sort_order, phase, title_ja, title_en, actors) VALUES
  ('0-1', 1, 'preparation', '非常時に備えたサイバーセキュリティ体制の整備とリスク検知のための情報収集', 'Set up the cyber-security organisation for emergencies and gather threat information', ARRAY['executive','security_manager']::text[]),
  ('0-2', 2, 'preparation', 'ネットワーク構成図の作成', 'Draw (and keep current) the network diagram', ARRAY['security_manager','vendor']::text[]),
  ('1-1', 3, 'detection', '異常等の検知', 'Detect the anomaly', ARRAY['security_manager','staff','external']::text[]),
  ('1-2', 4, 'detection', 'ケーブル等の切離', 'Disconnect cables from suspected devices', ARRAY['staff']::text[]),
  ('1-3', 5, 'detection', '医療情報システム安全管理責任者へ連絡', 'Report to the security manager', ARRAY['staff','external']::text[]),
  ('1-4', 6, 'detection', '医療情報システム安全管理責任者による確認', 'Security manager confirms the anomaly', ARRAY['security_manager']::text[]),
  ('2-1', 7, 'initial_response', '原因調査', 'Investigate the cause', ARRAY['security_manager','vendor']::text[]),
  ('2-2', 8, 'initial_response', '医療情報システムのベンダ及びサービス事業者等へ確認', 'Check with vendors (recent maintenance, migrations)', ARRAY['security_manager']::text[]),
  ('2-3', 9, 'initial_response', 'ネットワーク機器やケーブル等の調査', 'Examine network devices and cables', ARRAY['security_manager']::text[]),
  ('2-4', 10, 'initial_response', '電源系統、ブレーカー、ハードウェア等の調査', 'Examine power, breakers, hardware', ARRAY['security_manager']::text[]),
  ('2-5', 11, 'initial_response', 'IPA等へ相談', 'Consult IPA and similar bodies', ARRAY['security_manager']::text[]),
  ('2-6', 12, 'initial_response', '被害拡大防止', 'Contain the damage (cut traffic, save backups, collect access logs)', ARRAY['security_manager']::text[]),
  ('2-7', 13, 'initial_response', '報告と周知', 'Report to executives and tell staff to stop using affected systems', ARRAY['security_manager']::text[]),
  ('2-8', 14, 'initial_response', '経営層による確認・指示', 'Executives confirm, decide on a response team, order a damage survey', ARRAY['executive']::text[]),
  ('2-9', 15, 'initial_response', '対応(使用停止等)', 'Stop using affected systems (switch to paper operation)', ARRAY['staff']::text[]),
  ('2-10', 16, 'initial_response', '被害状況等調査', 'Survey the damage (scope, data leak) and report to executives', ARRAY['security_manager','vendor']::text[]),
  ('2-11', 17, 'initial_response', '被害状況の報告', 'Report the damage survey to executives', ARRAY['security_manager']::text[]),
  ('2-12', 18, 'initial_response', '方針指示', 'Executives set the response policy (reporting, legal action, evidence)', ARRAY['executive']::text[]),
  ('2-13', 19, 'initial_response', '厚生労働省へ報告', 'Report to MHLW', ARRAY['executive']::text[]),
  ('2-14', 20, 'initial_response', '証拠保全の実施', 'Preserve evidence', ARRAY['security_manager']::text[]),
  ('2-15', 21, 'initial_response', '医療情報システムのベンダ及びサービス事業者等への依頼', 'Receive vendor findings; cost out the recovery', ARRAY['security_manager']::text[]),
  ('2-16', 22, 'initial_response', '実施結果の報告(証拠保全及び復旧計画)', 'Report evidence preservation and the recovery plan', ARRAY['security_manager']::text[]),
  ('2-17', 23, 'initial_response', '経営層による確認', 'Executives review the plan, effort and cost', ARRAY['executive']::text[]),
  ('2-18', 24, 'initial_response', '警察への届出', 'Report to the police', ARRAY['executive']::text[]),
  ('3-1', 25, 'recovery', '復旧指示', 'Order the recovery (and fund it)', ARRAY['executive']::text[]),
  ('3-2', 26, 'recovery', '医療情報システムのベンダ及びサービス事業者等へ依頼', 'Ask vendors to help with recovery', ARRAY['security_manager']::text[]),
  ('3-3', 27, 'recovery', '再設定や再インストール、バックアップデータのリストア等', 'Reconfigure, reinstall, restore backups', ARRAY['security_manager']::text[]),
  ('3-4', 28, 'recovery', '復旧結果の確認', 'Confirm the systems work; tell staff', ARRAY['security_manager']::text[]),
  ('4-1', 29, 'post_incident', '復旧結果と情報漏えい事実の有無の報告', 'Report recovery results and whether data leaked', ARRAY['security_manager']::text[]),
  ('4-2', 30, 'post_incident', '確認・再発防止指示', 'Executives order prevention of recurrence', ARRAY['executive']::text[]),
  ('4-3', 31, 'post_incident', '所轄の地方公共団体や個人情報保護委員会等へ報告', 'Report to the local government and the Personal Information Protection Commission', ARRAY['executive']::text[]),
  ('4-4', 32, 'post_incident', '法律専門家(弁護士)へ相談', 'Consult lawyers', ARRAY['executive']::text[]),
  ('4-5', 33, 'post_incident', '再発防止策の検討', 'Design the recurrence-prevention measures', ARRAY['security_manager']::text[]),
  ('4-6', 34, 'post_incident', '再発防止策の周知', 'Tell staff about the measures', ARRAY['security_manager']::text[]),
  ('4-7', 35, 'post_incident', '再発防止策の実施', 'Staff carry out the measures', ARRAY['staff']::text[]),
  ('4-8', 36, 'post_incident', '医療情報システムのベンダ及びサービス事業者等の委託業者への再発防止策の指示', 'Instruct contractors on the measures', ARRAY['security_manager']::text[]),
  ('4-9', 37, 'post_incident', '情報公開の検討', 'Decide on public disclosure', ARRAY['executive']::text[]);

INSERT INTO ransomware_points (no, level, steps, pitfall_ja, point_ja, point_en) VALUES
  (1, 'must', ARRAY['0-1']::text[], 'バックアップデータまで暗号化されてしまった', '重要度の高い医療情報システムのバックアップを物理的に切り離された環境（オフライン媒体等）で管理しているか', 'Backups of critical systems are kept physically separated (offline media)'),
  (2, 'recommended', ARRAY['0-1']::text[], '待機系システムまで暗号化されてしまった', 'コールドスタンバイ方式で待機系を運用しているか', 'The standby system is run cold, not hot or warm'),
  (3, 'must', ARRAY['0-1']::text[], '現場の声に負けてネットワークに繋ぎ感染が拡大した', 'トップマネジメントからランサムウェアの危険性を院内に周知する仕組みがあるか', 'Top management tells all staff why ransomware differs (education programme)'),
  (4, 'recommended', ARRAY['0-1']::text[], '自前対応で被害とコストが拡大した', 'サイバー保険への加入を検討したか', 'Cyber insurance has been considered'),
  (5, 'recommended', ARRAY['0-2']::text[], 'ネットワーク構成図からデータの流れが把握できなかった', '構成図にシステム間の接続・データフローを含めているか', 'The network diagram shows data flows between systems and terminals'),
  (6, 'recommended', ARRAY['1-2','2-6']::text[], 'ケーブルを外した感染端末をスタンドアロンで使わせた', '切り離した端末を操作せず現状保全しているか', 'Disconnected devices are left untouched for forensics'),
  (7, 'must', ARRAY['2-1','2-10','2-14','3-2']::text[], 'いつものシステムベンダーでは調査・復旧が進まなかった', 'インシデント対応ができるセキュリティベンダーの目星をつけているか', 'A security incident-response vendor has been lined up in advance'),
  (8, 'recommended', ARRAY['2-10']::text[], '診療系ネットワークは安全と考え調査範囲を狭めた', '診療系NWは安全という神話に依らず全体を調査しているか', 'The investigation covers the whole network, clinical network included'),
  (9, 'must', ARRAY['2-12','3-1']::text[], '身代金を払ったが復旧しなかった', '身代金支払いのリスク（復旧不能・反社加担・再攻撃・善管注意義務）を専門家と検討しているか', 'Ransom-payment risks are reviewed with experts (and free decryptors tried first)'),
  (10, 'recommended', ARRAY['3-3']::text[], '感染端末のバックアップからリストアして再感染した', '感染日より前のバックアップからリストアしているか', 'Restore only from backups taken before the infection date'),
  (11, 'recommended', ARRAY['4-9']::text[], '身代金を払ったのに情報が暴露された', '二重脅迫型被害時に患者・関係者へ適時に情報開示しているか', 'In double extortion, patients and stakeholders are told promptly');

CREATE TABLE incidents (
  id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  hospital_id            uuid NOT NULL REFERENCES organisations (id),
  -- Copied from the hospital when the report is raised, so that policies need no look-up.
  prefecture_code        smallint NOT NULL REFERENCES prefectures (code),
  jurisdiction_id        uuid REFERENCES organisations (id),
  kind                   text NOT NULL CHECK (kind IN ('ransomware', 'unauthorised_access', 'malware', 'phishing',
                                                       'dos', 'other', 'near_miss', 'threat_info')),
  phase                  text NOT NULL DEFAULT 'detection'
    CHECK (phase IN ('detection', 'initial_response', 'recovery', 'post_incident', 'closed')),
  title                  text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
  -- The facts of the latest version, kept here for lists, clocks and statistics.
  discovered_at          timestamptz NOT NULL,
  suspected_cyber_attack boolean NOT NULL,
  infection_vector       text,
  personal_data_leak     text NOT NULL CHECK (personal_data_leak IN ('none', 'suspected', 'confirmed')),
  leak_learned_on        date,
  wrongful_intent        boolean NOT NULL,
  contained_at           timestamptz,
  recovered_at           timestamptz,
  current_version        integer NOT NULL DEFAULT 1,
  reported_by            text NOT NULL,
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  closed_at              timestamptz
);
CREATE INDEX incidents_hospital ON incidents (hospital_id, discovered_at DESC);
CREATE INDEX incidents_prefecture ON incidents (prefecture_code, discovered_at DESC);
CREATE INDEX incidents_jurisdiction ON incidents (jurisdiction_id) WHERE jurisdiction_id IS NOT NULL;
CREATE TRIGGER incidents_updated_at BEFORE UPDATE ON incidents
  FOR EACH ROW EXECUTE FUNCTION renkei_touch_updated_at();

-- Every version of the report as it was submitted (first report, updates, final); never changed.
CREATE TABLE incident_versions (
  incident_id  uuid NOT NULL REFERENCES incidents (id),
  version      integer NOT NULL CHECK (version >= 1),
  report_kind  text NOT NULL CHECK (report_kind IN ('first', 'update', 'final')),
  report       jsonb NOT NULL,
  submitted_by text NOT NULL,
  submitted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (incident_id, version)
);

CREATE TABLE incident_events (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  incident_id uuid NOT NULL REFERENCES incidents (id),
  step        text NOT NULL REFERENCES flowchart_steps (code),
  occurred_at timestamptz NOT NULL,
  actor       text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 100),
  note        text CHECK (char_length(note) <= 4000),
  recorded_by text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, occurred_at, recorded_at);

-- Reports to outside bodies, as facts with times.
CREATE TABLE incident_notifications (
  incident_id uuid NOT NULL REFERENCES incidents (id),
  recipient   text NOT NULL CHECK (recipient IN ('mhlw', 'police', 'prefecture', 'ppc_preliminary', 'ppc_final', 'patients')),
  notified_at timestamptz NOT NULL,
  reference   text CHECK (char_length(reference) <= 200),
  recorded_by text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (incident_id, recipient)
);

CREATE TABLE incident_tasks (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  incident_id uuid NOT NULL REFERENCES incidents (id),
  title       text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
  assignee    text CHECK (char_length(assignee) <= 100),
  due_on      date,
  step        text REFERENCES flowchart_steps (code),
  required    boolean NOT NULL DEFAULT false,
  done_at     timestamptz,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incident_tasks_incident ON incident_tasks (incident_id);

-- A hospital's preparedness on each ransomware point, recorded ahead of any incident.
CREATE TABLE ransomware_preparedness (
  hospital_id     uuid NOT NULL REFERENCES organisations (id),
  point_no        smallint NOT NULL REFERENCES ransomware_points (no),
  done            boolean NOT NULL,
  note            text CHECK (char_length(note) <= 2000),
  prefecture_code smallint NOT NULL REFERENCES prefectures (code),
  updated_by      text NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (hospital_id, point_no)
);

-- Durable work for the worker: alerts and other side effects are enqueued here in the same
-- transaction as the change that causes them, so none is lost if the process dies after commit.
CREATE TABLE jobs (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind         text NOT NULL CHECK (char_length(kind) BETWEEN 1 AND 100),
  payload      jsonb NOT NULL DEFAULT '{}',
  run_at       timestamptz NOT NULL DEFAULT now(),
  attempts     integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 8 CHECK (max_attempts >= 1),
  last_error   text,
  -- Two jobs with the same key are one job.
  dedup_key    text UNIQUE,
  -- W3C trace context of the request that queued it.
  trace        jsonb NOT NULL DEFAULT '{}',
  locked_by    text,
  locked_until timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  dead_at      timestamptz
);
CREATE INDEX jobs_ready ON jobs (run_at) WHERE finished_at IS NULL AND dead_at IS NULL;

-- Policies: the ministry sees every incident, a prefecture its own, a health centre those of
-- its jurisdiction, a hospital its own; vendors and dashboards none.
ALTER TABLE incidents ENABLE ROW LEVEL SECURITY;
ALTER TABLE incidents FORCE ROW LEVEL SECURITY;
ALTER TABLE incident_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE incident_versions FORCE ROW LEVEL SECURITY;
ALTER TABLE incident_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE incident_events FORCE ROW LEVEL SECURITY;
ALTER TABLE incident_notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE incident_notifications FORCE ROW LEVEL SECURITY;
ALTER TABLE incident_tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE incident_tasks FORCE ROW LEVEL SECURITY;
ALTER TABLE ransomware_preparedness ENABLE ROW LEVEL SECURITY;
ALTER TABLE ransomware_preparedness FORCE ROW LEVEL SECURITY;

CREATE POLICY incidents_read ON incidents FOR SELECT USING (
  CASE renkei_role()
    WHEN 'national' THEN true
    WHEN 'prefecture' THEN prefecture_code = renkei_prefecture()
    WHEN 'health_centre' THEN jurisdiction_id = renkei_org()
    WHEN 'hospital_admin' THEN hospital_id = renkei_org()
    WHEN 'hospital_staff' THEN hospital_id = renkei_org()
    ELSE false
  END
);
-- Anyone at the hospital raises a report (flowchart 1-3); its security manager carries it on.
CREATE POLICY incidents_insert ON incidents FOR INSERT WITH CHECK (
  renkei_role() IN ('hospital_admin', 'hospital_staff') AND hospital_id = renkei_org()
);
CREATE POLICY incidents_update ON incidents FOR UPDATE
  USING (renkei_role() = 'hospital_admin' AND hospital_id = renkei_org())
  WITH CHECK (renkei_role() = 'hospital_admin' AND hospital_id = renkei_org());

-- Child rows follow their incident: readable when it is, written by its hospital.
CREATE POLICY incident_versions_read ON incident_versions FOR SELECT USING (incident_id IN (SELECT id FROM incidents));
CREATE POLICY incident_versions_insert ON incident_versions FOR INSERT WITH CHECK (
  renkei_role() IN ('hospital_admin', 'hospital_staff') AND incident_id IN (SELECT id FROM incidents WHERE hospital_id = renkei_org())
);
CREATE POLICY incident_events_read ON incident_events FOR SELECT USING (incident_id IN (SELECT id FROM incidents));
CREATE POLICY incident_events_insert ON incident_events FOR INSERT WITH CHECK (
  renkei_role() IN ('hospital_admin', 'hospital_staff') AND incident_id IN (SELECT id FROM incidents WHERE hospital_id = renkei_org())
);
CREATE POLICY incident_notifications_read ON incident_notifications FOR SELECT USING (incident_id IN (SELECT id FROM incidents));
CREATE POLICY incident_notifications_write ON incident_notifications FOR INSERT WITH CHECK (
  renkei_role() = 'hospital_admin' AND incident_id IN (SELECT id FROM incidents WHERE hospital_id = renkei_org())
);
CREATE POLICY incident_tasks_read ON incident_tasks FOR SELECT USING (incident_id IN (SELECT id FROM incidents));
CREATE POLICY incident_tasks_insert ON incident_tasks FOR INSERT WITH CHECK (
  renkei_role() = 'hospital_admin' AND incident_id IN (SELECT id FROM incidents WHERE hospital_id = renkei_org())
);
CREATE POLICY incident_tasks_update ON incident_tasks FOR UPDATE
  USING (renkei_role() = 'hospital_admin' AND incident_id IN (SELECT id FROM incidents WHERE hospital_id = renkei_org()))
  WITH CHECK (renkei_role() = 'hospital_admin' AND incident_id IN (SELECT id FROM incidents WHERE hospital_id = renkei_org()));

CREATE POLICY ransomware_preparedness_read ON ransomware_preparedness FOR SELECT USING (
  CASE renkei_role()
    WHEN 'national' THEN true
    WHEN 'prefecture' THEN prefecture_code = renkei_prefecture()
    WHEN 'health_centre' THEN hospital_id IN (SELECT id FROM organisations WHERE jurisdiction_id = renkei_org())
    WHEN 'hospital_admin' THEN hospital_id = renkei_org()
    WHEN 'hospital_staff' THEN hospital_id = renkei_org()
    ELSE false
  END
);
CREATE POLICY ransomware_preparedness_insert ON ransomware_preparedness FOR INSERT WITH CHECK (
  renkei_role() = 'hospital_admin' AND hospital_id = renkei_org()
);
CREATE POLICY ransomware_preparedness_update ON ransomware_preparedness FOR UPDATE
  USING (renkei_role() = 'hospital_admin' AND hospital_id = renkei_org())
  WITH CHECK (renkei_role() = 'hospital_admin' AND hospital_id = renkei_org());

GRANT SELECT ON flowchart_steps, ransomware_points TO renkei_app;
GRANT SELECT, INSERT, UPDATE ON incidents, incident_tasks, ransomware_preparedness TO renkei_app;
GRANT SELECT, INSERT ON incident_versions, incident_events, incident_notifications TO renkei_app;
-- The worker (issue #6) claims and finishes jobs; requests only add them.
GRANT SELECT, INSERT, UPDATE ON jobs TO renkei_app;
