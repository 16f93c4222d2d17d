-- Checklist catalogs as data: fiscal year × form (hospital, vendor, survey) × items. The FY2023
-- and FY2024 hospital forms (医療機関確認用) and the posture survey ship here; later years and the
-- official vendor items are loaded through `importChecklistCatalog` or `renkei-api catalog import`.

CREATE TABLE checklist_catalogs (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  fiscal_year smallint NOT NULL CHECK (fiscal_year BETWEEN 2020 AND 2100),
  form        text NOT NULL CHECK (form IN ('hospital', 'vendor', 'survey')),
  title       text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 300),
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (fiscal_year, form)
);

CREATE TABLE checklist_items (
  catalog_id  uuid NOT NULL REFERENCES checklist_catalogs (id),
  code        text NOT NULL CHECK (code ~ '^[0-9A-Z]{1,3}(-[0-9]{1,3})?$'),
  position    smallint NOT NULL CHECK (position >= 1),
  section_ja  text NOT NULL CHECK (char_length(section_ja) BETWEEN 1 AND 200),
  section_en  text NOT NULL CHECK (char_length(section_en) BETWEEN 1 AND 200),
  text_ja     text NOT NULL CHECK (char_length(text_ja) BETWEEN 1 AND 1000),
  text_en     text NOT NULL CHECK (char_length(text_en) BETWEEN 1 AND 1000),
  answer_type text NOT NULL CHECK (answer_type IN ('yes_no', 'number', 'date', 'choice', 'multi_choice')),
  choices     text[] NOT NULL DEFAULT '{}',
  -- Its status that year: checked at inspection, for reference only (参考項目), or not asked.
  status      text NOT NULL CHECK (status IN ('required', 'reference', 'absent')),
  note        text CHECK (char_length(note) <= 500),
  -- The KPI this item feeds, if any (security_manager, bcp, …).
  kpi         text CHECK (char_length(kpi) <= 50),
  PRIMARY KEY (catalog_id, code),
  UNIQUE (catalog_id, position),
  CONSTRAINT choices_for_choice_types CHECK ((answer_type IN ('choice', 'multi_choice')) = (cardinality(choices) >= 2))
);

INSERT INTO checklist_catalogs (fiscal_year, form, title) VALUES (2023, 'hospital', '医療機関におけるサイバーセキュリティ対策チェックリスト（医療機関確認用）2023年度');

INSERT INTO checklist_items (catalog_id, code, position, section_ja, section_en, text_ja, text_en, answer_type, choices, status, note, kpi) VALUES
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'hospital'), '1-1', 1, '体制構築', 'Organisation', '医療情報システム安全管理責任者を設置している。', 'A medical information system security manager has been appointed.', 'yes_no', '{}', 'required', NULL, 'security_manager'),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'hospital'), '2-1', 2, '医療情報システムの管理・運用', 'System management and operation', 'サーバ、端末PC、ネットワーク機器の台帳管理を行っている。', 'An asset register of servers, client PCs and network devices is maintained.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'hospital'), '2-2', 3, '医療情報システムの管理・運用', 'System management and operation', 'リモートメンテナンス（保守）を利用している機器の有無を事業者に確認した。', 'Whether any device uses remote maintenance has been confirmed with the vendors.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'hospital'), '2-3', 4, '医療情報システムの管理・運用', 'System management and operation', '事業者から製造業者/サービス事業者によるセキュリティ開示書（MDS/SDS）を提出してもらう。', 'Vendors have submitted manufacturer/service-provider security disclosure statements (MDS/SDS).', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'hospital'), '2-4', 5, '医療情報システムの管理・運用', 'System management and operation', '利用者の職種・担当業務別の情報区分毎のアクセス利用権限を設定している。', 'Access rights are set per information category by job type and duty.', 'yes_no', '{}', 'required', 'endpoint PCs: reference', NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'hospital'), '2-5', 6, '医療情報システムの管理・運用', 'System management and operation', '退職者や使用していないアカウント等、不要なアカウントを削除している。', 'Unneeded accounts (leavers, unused accounts) are deleted.', 'yes_no', '{}', 'required', 'endpoint PCs: reference', NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'hospital'), '2-6', 7, '医療情報システムの管理・運用', 'System management and operation', 'アクセスログを管理している。', 'Access logs are managed.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'hospital'), '2-7', 8, '医療情報システムの管理・運用', 'System management and operation', 'セキュリティパッチ（最新ファームウェアや更新プログラム）を適用している。', 'Security patches (latest firmware and updates) are applied.', 'yes_no', '{}', 'required', 'endpoint PCs: reference', NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'hospital'), '2-8', 9, '医療情報システムの管理・運用', 'System management and operation', '接続元制限を実施している。', 'Source-address (connection origin) restrictions are in place.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'hospital'), '2-9', 10, '医療情報システムの管理・運用', 'System management and operation', 'バックグラウンドで動作している不要なソフトウェア及びサービスを停止している。', 'Unneeded software and services running in the background are stopped.', 'yes_no', '{}', 'absent', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'hospital'), '3-1', 11, 'インシデント発生に備えた対応', 'Incident preparedness', 'インシデント発生時における組織内と外部関係機関（事業者、厚生労働省、警察等）の連絡体制図がある。', 'There is a contact chart, inside the organisation and with outside bodies (vendors, MHLW, police, etc.), for incidents.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'hospital'), '3-2', 12, 'インシデント発生に備えた対応', 'Incident preparedness', 'インシデント発生時に診療を継続するために必要な情報を検討し、データやシステムのバックアップの実施と復旧手順を確認している。', 'The information needed to continue care during an incident has been identified, and data/system backups and the restore procedure have been confirmed.', 'yes_no', '{}', 'absent', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'hospital'), '3-3', 13, 'インシデント発生に備えた対応', 'Incident preparedness', 'サイバー攻撃を想定した事業継続計画（BCP）を策定、又は令和６年度中に策定予定である。', 'A business continuity plan (BCP) that assumes a cyber attack has been drawn up, or will be within FY2024.', 'yes_no', '{}', 'absent', NULL, 'bcp');

INSERT INTO checklist_catalogs (fiscal_year, form, title) VALUES (2024, 'hospital', '医療機関におけるサイバーセキュリティ対策チェックリスト（医療機関確認用）2024年度');

INSERT INTO checklist_items (catalog_id, code, position, section_ja, section_en, text_ja, text_en, answer_type, choices, status, note, kpi) VALUES
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'hospital'), '1-1', 1, '体制構築', 'Organisation', '医療情報システム安全管理責任者を設置している。', 'A medical information system security manager has been appointed.', 'yes_no', '{}', 'required', NULL, 'security_manager'),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'hospital'), '2-1', 2, '医療情報システムの管理・運用', 'System management and operation', 'サーバ、端末PC、ネットワーク機器の台帳管理を行っている。', 'An asset register of servers, client PCs and network devices is maintained.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'hospital'), '2-2', 3, '医療情報システムの管理・運用', 'System management and operation', 'リモートメンテナンス（保守）を利用している機器の有無を事業者に確認した。', 'Whether any device uses remote maintenance has been confirmed with the vendors.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'hospital'), '2-3', 4, '医療情報システムの管理・運用', 'System management and operation', '事業者から製造業者/サービス事業者によるセキュリティ開示書（MDS/SDS）を提出してもらう。', 'Vendors have submitted manufacturer/service-provider security disclosure statements (MDS/SDS).', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'hospital'), '2-4', 5, '医療情報システムの管理・運用', 'System management and operation', '利用者の職種・担当業務別の情報区分毎のアクセス利用権限を設定している。', 'Access rights are set per information category by job type and duty.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'hospital'), '2-5', 6, '医療情報システムの管理・運用', 'System management and operation', '退職者や使用していないアカウント等、不要なアカウントを削除している。', 'Unneeded accounts (leavers, unused accounts) are deleted.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'hospital'), '2-6', 7, '医療情報システムの管理・運用', 'System management and operation', 'アクセスログを管理している。', 'Access logs are managed.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'hospital'), '2-7', 8, '医療情報システムの管理・運用', 'System management and operation', 'セキュリティパッチ（最新ファームウェアや更新プログラム）を適用している。', 'Security patches (latest firmware and updates) are applied.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'hospital'), '2-8', 9, '医療情報システムの管理・運用', 'System management and operation', '接続元制限を実施している。', 'Source-address (connection origin) restrictions are in place.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'hospital'), '2-9', 10, '医療情報システムの管理・運用', 'System management and operation', 'バックグラウンドで動作している不要なソフトウェア及びサービスを停止している。', 'Unneeded software and services running in the background are stopped.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'hospital'), '3-1', 11, 'インシデント発生に備えた対応', 'Incident preparedness', 'インシデント発生時における組織内と外部関係機関（事業者、厚生労働省、警察等）の連絡体制図がある。', 'There is a contact chart, inside the organisation and with outside bodies (vendors, MHLW, police, etc.), for incidents.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'hospital'), '3-2', 12, 'インシデント発生に備えた対応', 'Incident preparedness', 'インシデント発生時に診療を継続するために必要な情報を検討し、データやシステムのバックアップの実施と復旧手順を確認している。', 'The information needed to continue care during an incident has been identified, and data/system backups and the restore procedure have been confirmed.', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'hospital'), '3-3', 13, 'インシデント発生に備えた対応', 'Incident preparedness', 'サイバー攻撃を想定した事業継続計画（BCP）を策定、又は令和６年度中に策定予定である。', 'A business continuity plan (BCP) that assumes a cyber attack has been drawn up, or will be within FY2024.', 'yes_no', '{}', 'required', NULL, 'bcp');

INSERT INTO checklist_catalogs (fiscal_year, form, title) VALUES (2023, 'survey', '医療機関のサイバーセキュリティ対策に関する調査（G-MIS）2023年度');

INSERT INTO checklist_items (catalog_id, code, position, section_ja, section_en, text_ja, text_en, answer_type, choices, status, note, kpi) VALUES
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'survey'), 'S-1', 1, 'バックアップとBCP', 'Backups and BCP', 'EHRのバックアップを作成している', 'EHR backups are made', 'yes_no', '{}', 'required', NULL, 'ehr_backup'),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'survey'), 'S-2', 2, 'バックアップとBCP', 'Backups and BCP', 'オフラインのバックアップを保管している', 'An offline backup is kept', 'yes_no', '{}', 'required', NULL, 'offline_backup'),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'survey'), 'S-3', 3, 'バックアップとBCP', 'Backups and BCP', 'バックアップの方式', 'Backup methods', 'multi_choice', '{lto,rdx,external_disk,cloud,nas,other}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'survey'), 'S-4', 4, 'バックアップとBCP', 'Backups and BCP', '改ざん不可能なバックアップを保管している', 'An immutable backup is kept', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'survey'), 'S-5', 5, 'バックアップとBCP', 'Backups and BCP', 'サイバー攻撃を想定したBCPを策定している', 'A cyber-attack BCP has been drawn up', 'yes_no', '{}', 'required', NULL, 'bcp'),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'survey'), 'S-6', 6, 'バックアップとBCP', 'Backups and BCP', 'BCPに基づく訓練の直近の実施日', 'Date of the last BCP drill', 'date', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'survey'), 'S-7', 7, 'バックアップとBCP', 'Backups and BCP', '医療情報システム安全管理責任者は専任である', 'The security manager is dedicated (not combined with other duties)', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'survey'), 'S-8', 8, 'バックアップとBCP', 'Backups and BCP', '外部ネットワークとの接続点の数', 'Number of outside network connection points', 'number', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2023 AND form = 'survey'), 'S-9', 9, 'バックアップとBCP', 'Backups and BCP', '今年度、職員向けのセキュリティ研修を実施した', 'Staff security training was held this year', 'yes_no', '{}', 'required', NULL, NULL);

INSERT INTO checklist_catalogs (fiscal_year, form, title) VALUES (2024, 'survey', '医療機関のサイバーセキュリティ対策に関する調査（G-MIS）2024年度');

INSERT INTO checklist_items (catalog_id, code, position, section_ja, section_en, text_ja, text_en, answer_type, choices, status, note, kpi) VALUES
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'survey'), 'S-1', 1, 'バックアップとBCP', 'Backups and BCP', 'EHRのバックアップを作成している', 'EHR backups are made', 'yes_no', '{}', 'required', NULL, 'ehr_backup'),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'survey'), 'S-2', 2, 'バックアップとBCP', 'Backups and BCP', 'オフラインのバックアップを保管している', 'An offline backup is kept', 'yes_no', '{}', 'required', NULL, 'offline_backup'),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'survey'), 'S-3', 3, 'バックアップとBCP', 'Backups and BCP', 'バックアップの方式', 'Backup methods', 'multi_choice', '{lto,rdx,external_disk,cloud,nas,other}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'survey'), 'S-4', 4, 'バックアップとBCP', 'Backups and BCP', '改ざん不可能なバックアップを保管している', 'An immutable backup is kept', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'survey'), 'S-5', 5, 'バックアップとBCP', 'Backups and BCP', 'サイバー攻撃を想定したBCPを策定している', 'A cyber-attack BCP has been drawn up', 'yes_no', '{}', 'required', NULL, 'bcp'),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'survey'), 'S-6', 6, 'バックアップとBCP', 'Backups and BCP', 'BCPに基づく訓練の直近の実施日', 'Date of the last BCP drill', 'date', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'survey'), 'S-7', 7, 'バックアップとBCP', 'Backups and BCP', '医療情報システム安全管理責任者は専任である', 'The security manager is dedicated (not combined with other duties)', 'yes_no', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'survey'), 'S-8', 8, 'バックアップとBCP', 'Backups and BCP', '外部ネットワークとの接続点の数', 'Number of outside network connection points', 'number', '{}', 'required', NULL, NULL),
  ((SELECT id FROM checklist_catalogs WHERE fiscal_year = 2024 AND form = 'survey'), 'S-9', 9, 'バックアップとBCP', 'Backups and BCP', '今年度、職員向けのセキュリティ研修を実施した', 'Staff security training was held this year', 'yes_no', '{}', 'required', NULL, NULL);

-- Everyone reads catalogs; only the ministry loads them.
ALTER TABLE checklist_catalogs ENABLE ROW LEVEL SECURITY;
ALTER TABLE checklist_catalogs FORCE ROW LEVEL SECURITY;
ALTER TABLE checklist_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE checklist_items FORCE ROW LEVEL SECURITY;
CREATE POLICY checklist_catalogs_read ON checklist_catalogs FOR SELECT USING (renkei_role() IS NOT NULL);
CREATE POLICY checklist_catalogs_write ON checklist_catalogs FOR INSERT WITH CHECK (renkei_role() = 'national');
CREATE POLICY checklist_items_read ON checklist_items FOR SELECT USING (renkei_role() IS NOT NULL);
CREATE POLICY checklist_items_write ON checklist_items FOR INSERT WITH CHECK (renkei_role() = 'national');

GRANT SELECT, INSERT ON checklist_catalogs, checklist_items TO renkei_app;
