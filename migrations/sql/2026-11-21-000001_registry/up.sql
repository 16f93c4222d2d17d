-- The registry: regions, prefectures, organisations, users, vendor links and critical-infrastructure
-- designations, with the application role and the row-level-security policies that make the
-- prefecture the tenant boundary.

-- The application connects as a member of this role. It is neither superuser nor table owner and
-- does not bypass RLS, so every policy below applies to it. Roles are cluster-wide: created once,
-- never dropped by a migration.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'renkei_app') THEN
    CREATE ROLE renkei_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO renkei_app;

-- The principal of the current transaction, set by the application with
-- set_config('renkei.…', value, true). An unset setting yields NULL, and every policy then denies.
CREATE FUNCTION renkei_role() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('renkei.role', true), '') $$;
CREATE FUNCTION renkei_org() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('renkei.org', true), '')::uuid $$;
CREATE FUNCTION renkei_prefecture() RETURNS smallint LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('renkei.prefecture', true), '')::smallint $$;
CREATE FUNCTION renkei_subject() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('renkei.subject', true), '') $$;

CREATE FUNCTION renkei_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TABLE regions (
  code       text PRIMARY KEY,
  name_ja    text NOT NULL UNIQUE,
  name_en    text NOT NULL UNIQUE,
  sort_order smallint NOT NULL UNIQUE
);

CREATE TABLE prefectures (
  code        smallint PRIMARY KEY CHECK (code BETWEEN 1 AND 47),
  name_ja     text NOT NULL UNIQUE,
  name_en     text NOT NULL UNIQUE,
  region_code text NOT NULL REFERENCES regions (code)
);

-- The eight regions (八地方区分) named in the critical-infrastructure designation rules.
INSERT INTO regions (code, name_ja, name_en, sort_order) VALUES
  ('hokkaido', '北海道', 'Hokkaido', 1),
  ('tohoku', '東北', 'Tohoku', 2),
  ('kanto', '関東', 'Kanto', 3),
  ('chubu', '中部', 'Chubu', 4),
  ('kinki', '近畿', 'Kinki', 5),
  ('chugoku', '中国', 'Chugoku', 6),
  ('shikoku', '四国', 'Shikoku', 7),
  ('kyushu_okinawa', '九州・沖縄', 'Kyushu-Okinawa', 8);

-- The 47 prefectures with their JIS X 0401 codes.
INSERT INTO prefectures (code, name_ja, name_en, region_code) VALUES
  (1, '北海道', 'Hokkaido', 'hokkaido'),
  (2, '青森県', 'Aomori', 'tohoku'),
  (3, '岩手県', 'Iwate', 'tohoku'),
  (4, '宮城県', 'Miyagi', 'tohoku'),
  (5, '秋田県', 'Akita', 'tohoku'),
  (6, '山形県', 'Yamagata', 'tohoku'),
  (7, '福島県', 'Fukushima', 'tohoku'),
  (8, '茨城県', 'Ibaraki', 'kanto'),
  (9, '栃木県', 'Tochigi', 'kanto'),
  (10, '群馬県', 'Gunma', 'kanto'),
  (11, '埼玉県', 'Saitama', 'kanto'),
  (12, '千葉県', 'Chiba', 'kanto'),
  (13, '東京都', 'Tokyo', 'kanto'),
  (14, '神奈川県', 'Kanagawa', 'kanto'),
  (15, '新潟県', 'Niigata', 'chubu'),
  (16, '富山県', 'Toyama', 'chubu'),
  (17, '石川県', 'Ishikawa', 'chubu'),
  (18, '福井県', 'Fukui', 'chubu'),
  (19, '山梨県', 'Yamanashi', 'chubu'),
  (20, '長野県', 'Nagano', 'chubu'),
  (21, '岐阜県', 'Gifu', 'chubu'),
  (22, '静岡県', 'Shizuoka', 'chubu'),
  (23, '愛知県', 'Aichi', 'chubu'),
  (24, '三重県', 'Mie', 'kinki'),
  (25, '滋賀県', 'Shiga', 'kinki'),
  (26, '京都府', 'Kyoto', 'kinki'),
  (27, '大阪府', 'Osaka', 'kinki'),
  (28, '兵庫県', 'Hyogo', 'kinki'),
  (29, '奈良県', 'Nara', 'kinki'),
  (30, '和歌山県', 'Wakayama', 'kinki'),
  (31, '鳥取県', 'Tottori', 'chugoku'),
  (32, '島根県', 'Shimane', 'chugoku'),
  (33, '岡山県', 'Okayama', 'chugoku'),
  (34, '広島県', 'Hiroshima', 'chugoku'),
  (35, '山口県', 'Yamaguchi', 'chugoku'),
  (36, '徳島県', 'Tokushima', 'shikoku'),
  (37, '香川県', 'Kagawa', 'shikoku'),
  (38, '愛媛県', 'Ehime', 'shikoku'),
  (39, '高知県', 'Kochi', 'shikoku'),
  (40, '福岡県', 'Fukuoka', 'kyushu_okinawa'),
  (41, '佐賀県', 'Saga', 'kyushu_okinawa'),
  (42, '長崎県', 'Nagasaki', 'kyushu_okinawa'),
  (43, '熊本県', 'Kumamoto', 'kyushu_okinawa'),
  (44, '大分県', 'Oita', 'kyushu_okinawa'),
  (45, '宮崎県', 'Miyazaki', 'kyushu_okinawa'),
  (46, '鹿児島県', 'Kagoshima', 'kyushu_okinawa'),
  (47, '沖縄県', 'Okinawa', 'kyushu_okinawa');

CREATE TABLE organisations (
  id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  kind                     text NOT NULL
    CHECK (kind IN ('ministry', 'prefecture_office', 'health_centre', 'hospital', 'clinic', 'vendor')),
  name                     text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  name_en                  text CHECK (char_length(name_en) BETWEEN 1 AND 200),
  prefecture_code          smallint NOT NULL REFERENCES prefectures (code),
  -- The health centre (保健所) whose jurisdiction the hospital or clinic is in.
  jurisdiction_id          uuid REFERENCES organisations (id),
  licensed_beds            integer CHECK (licensed_beds BETWEEN 0 AND 5000),
  functions                text[] NOT NULL DEFAULT '{}' CHECK (functions <@ ARRAY[
    'disaster_base', 'tertiary_emergency', 'secondary_emergency', 'regional_support',
    'psychiatric_emergency', 'perinatal_centre', 'cancer_centre', 'specific_function'
  ]::text[]),
  ehr_in_use               boolean,
  ehr_product              text CHECK (char_length(ehr_product) BETWEEN 1 AND 200),
  -- 医療機関コード: two digits of prefecture, one of fee table, seven of institution.
  medical_institution_code text UNIQUE CHECK (medical_institution_code ~ '^[0-9]{10}$'),
  gmis_id                  text UNIQUE CHECK (gmis_id ~ '^[A-Za-z0-9-]{1,32}$'),
  active                   boolean NOT NULL DEFAULT true,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  -- A hospital (病院) has 20 beds or more by law; a clinic (診療所) 19 or fewer.
  CONSTRAINT hospital_beds CHECK (kind <> 'hospital' OR licensed_beds >= 20),
  CONSTRAINT clinic_beds CHECK (kind <> 'clinic' OR licensed_beds BETWEEN 0 AND 19),
  CONSTRAINT care_fields_only_for_care CHECK (
    kind IN ('hospital', 'clinic')
    OR (licensed_beds IS NULL AND jurisdiction_id IS NULL AND functions = '{}'
        AND medical_institution_code IS NULL AND gmis_id IS NULL)
  )
);
CREATE INDEX organisations_prefecture_kind ON organisations (prefecture_code, kind, name, id);
CREATE INDEX organisations_jurisdiction ON organisations (jurisdiction_id) WHERE jurisdiction_id IS NOT NULL;
CREATE INDEX organisations_kind_name ON organisations (kind, name, id);
CREATE TRIGGER organisations_updated_at BEFORE UPDATE ON organisations
  FOR EACH ROW EXECUTE FUNCTION renkei_touch_updated_at();

-- A jurisdiction is a health centre of the same prefecture. Only checked when it changes: the
-- check reads organisations under the caller's RLS, and a hospital editing its own EHR details
-- cannot (and need not) see its health centre.
CREATE FUNCTION renkei_check_organisation() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  centre record;
BEGIN
  IF NEW.jurisdiction_id IS NOT NULL
     AND (TG_OP = 'INSERT' OR NEW.jurisdiction_id IS DISTINCT FROM OLD.jurisdiction_id) THEN
    SELECT kind, prefecture_code INTO centre FROM organisations WHERE id = NEW.jurisdiction_id;
    IF NOT FOUND OR centre.kind <> 'health_centre' THEN
      RAISE EXCEPTION 'jurisdiction % is not a health centre', NEW.jurisdiction_id
        USING ERRCODE = '23503', CONSTRAINT = 'jurisdiction_is_health_centre';
    END IF;
    IF centre.prefecture_code <> NEW.prefecture_code THEN
      RAISE EXCEPTION 'health centre % is in another prefecture', NEW.jurisdiction_id
        USING ERRCODE = '23514', CONSTRAINT = 'jurisdiction_same_prefecture';
    END IF;
  END IF;
  -- Hospital users may keep their own EHR details current; the registry facts belong to the
  -- prefecture. Defence in depth behind the resolver, which offers them only those fields.
  IF TG_OP = 'UPDATE' AND renkei_role() IN ('hospital_admin', 'hospital_staff') AND (
       NEW.kind, NEW.name, NEW.name_en, NEW.prefecture_code, NEW.jurisdiction_id, NEW.licensed_beds,
       NEW.functions, NEW.medical_institution_code, NEW.gmis_id, NEW.active
     ) IS DISTINCT FROM (
       OLD.kind, OLD.name, OLD.name_en, OLD.prefecture_code, OLD.jurisdiction_id, OLD.licensed_beds,
       OLD.functions, OLD.medical_institution_code, OLD.gmis_id, OLD.active
     ) THEN
    RAISE EXCEPTION 'hospital users may change only their EHR details'
      USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER organisations_check BEFORE INSERT OR UPDATE ON organisations
  FOR EACH ROW EXECUTE FUNCTION renkei_check_organisation();

-- Which vendors (事業者) a hospital works with. The hospital's prefecture is copied here so that
-- the policy needs no look-up in organisations, whose own policy reads this table.
CREATE TABLE vendor_links (
  hospital_id     uuid NOT NULL REFERENCES organisations (id),
  vendor_id       uuid NOT NULL REFERENCES organisations (id),
  prefecture_code smallint NOT NULL REFERENCES prefectures (code),
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (hospital_id, vendor_id)
);
CREATE INDEX vendor_links_vendor ON vendor_links (vendor_id);

CREATE FUNCTION renkei_check_vendor_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  care record;
BEGIN
  SELECT kind, prefecture_code INTO care FROM organisations WHERE id = NEW.hospital_id;
  IF NOT FOUND OR care.kind NOT IN ('hospital', 'clinic') THEN
    RAISE EXCEPTION 'organisation % is not a hospital or clinic', NEW.hospital_id
      USING ERRCODE = '23503', CONSTRAINT = 'vendor_link_hospital';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM organisations WHERE id = NEW.vendor_id AND kind = 'vendor') THEN
    RAISE EXCEPTION 'organisation % is not a vendor', NEW.vendor_id
      USING ERRCODE = '23503', CONSTRAINT = 'vendor_link_vendor';
  END IF;
  NEW.prefecture_code := care.prefecture_code;
  RETURN NEW;
END
$$;
CREATE TRIGGER vendor_links_check BEFORE INSERT ON vendor_links
  FOR EACH ROW EXECUTE FUNCTION renkei_check_vendor_link();

CREATE TABLE users (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organisation_id uuid NOT NULL REFERENCES organisations (id),
  -- The identity provider's `sub` for this person.
  subject         text NOT NULL UNIQUE CHECK (char_length(subject) BETWEEN 1 AND 255),
  email           text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' AND char_length(email) <= 254),
  display_name    text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 100),
  role            text NOT NULL CHECK (role IN (
    'national', 'prefecture', 'health_centre', 'hospital_admin', 'hospital_staff', 'vendor', 'dashboard'
  )),
  active          boolean NOT NULL DEFAULT true,
  deactivated_at  timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT deactivated_when_inactive CHECK (active = (deactivated_at IS NULL))
);
CREATE UNIQUE INDEX users_email ON users (lower(email));
CREATE INDEX users_organisation ON users (organisation_id, display_name, id);
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION renkei_touch_updated_at();

-- A role belongs to one kind of organisation; this stops anyone from minting a `national` user
-- inside a hospital.
CREATE FUNCTION renkei_check_user() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  org_kind text;
BEGIN
  SELECT kind INTO org_kind FROM organisations WHERE id = NEW.organisation_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'organisation % not found', NEW.organisation_id
      USING ERRCODE = '23503', CONSTRAINT = 'users_organisation_visible';
  END IF;
  IF NOT (
       (NEW.role IN ('national', 'dashboard') AND org_kind = 'ministry')
    OR (NEW.role = 'prefecture' AND org_kind = 'prefecture_office')
    OR (NEW.role = 'health_centre' AND org_kind = 'health_centre')
    OR (NEW.role IN ('hospital_admin', 'hospital_staff') AND org_kind IN ('hospital', 'clinic'))
    OR (NEW.role = 'vendor' AND org_kind = 'vendor')
  ) THEN
    RAISE EXCEPTION 'role % does not belong to a % organisation', NEW.role, org_kind
      USING ERRCODE = '23514', CONSTRAINT = 'users_role_matches_organisation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER users_check BEFORE INSERT OR UPDATE OF role, organisation_id ON users
  FOR EACH ROW EXECUTE FUNCTION renkei_check_user();

-- 重要インフラ指定: designation of a hospital as critical infrastructure under the economic
-- security law. History is kept: a revocation closes the row, a new designation opens another.
CREATE TABLE critical_designations (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  hospital_id   uuid NOT NULL REFERENCES organisations (id),
  designated_on date NOT NULL,
  revoked_on    date,
  note          text CHECK (char_length(note) <= 2000),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT revoked_after_designated CHECK (revoked_on IS NULL OR revoked_on >= designated_on)
);
CREATE UNIQUE INDEX critical_designations_open ON critical_designations (hospital_id) WHERE revoked_on IS NULL;
CREATE TRIGGER critical_designations_updated_at BEFORE UPDATE ON critical_designations
  FOR EACH ROW EXECUTE FUNCTION renkei_touch_updated_at();

CREATE FUNCTION renkei_check_designation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM organisations WHERE id = NEW.hospital_id AND kind = 'hospital') THEN
    RAISE EXCEPTION 'organisation % is not a hospital', NEW.hospital_id
      USING ERRCODE = '23503', CONSTRAINT = 'designation_is_hospital';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER critical_designations_check BEFORE INSERT ON critical_designations
  FOR EACH ROW EXECUTE FUNCTION renkei_check_designation();

-- Row-level security. FORCE makes the policies bind the table owner too; only a superuser or a
-- BYPASSRLS role escapes them, and the application is neither.
ALTER TABLE organisations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organisations FORCE ROW LEVEL SECURITY;
ALTER TABLE vendor_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE vendor_links FORCE ROW LEVEL SECURITY;
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
ALTER TABLE critical_designations ENABLE ROW LEVEL SECURITY;
ALTER TABLE critical_designations FORCE ROW LEVEL SECURITY;

CREATE POLICY organisations_read ON organisations FOR SELECT USING (
  CASE renkei_role()
    WHEN 'national' THEN true
    -- The ministry sits in Tokyo but is nobody's tenant. Vendors are a directory: prefectures
    -- follow who runs their hospitals' systems, and hospitals pick from it when they link one.
    WHEN 'prefecture' THEN (prefecture_code = renkei_prefecture() AND kind <> 'ministry') OR kind = 'vendor'
    WHEN 'health_centre' THEN id = renkei_org() OR jurisdiction_id = renkei_org()
    WHEN 'hospital_admin' THEN id = renkei_org() OR kind = 'vendor'
    WHEN 'hospital_staff' THEN id = renkei_org()
    WHEN 'vendor' THEN id = renkei_org()
      OR id IN (SELECT hospital_id FROM vendor_links WHERE vendor_id = renkei_org())
    ELSE false
  END
);
CREATE POLICY organisations_insert ON organisations FOR INSERT WITH CHECK (
  renkei_role() = 'national'
  OR (renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture()
      AND kind IN ('health_centre', 'hospital', 'clinic', 'vendor'))
);
CREATE POLICY organisations_update ON organisations FOR UPDATE
  USING (
    renkei_role() = 'national'
    OR (renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture()
        AND kind IN ('health_centre', 'hospital', 'clinic', 'vendor'))
    OR (renkei_role() = 'hospital_admin' AND id = renkei_org())
  )
  WITH CHECK (
    renkei_role() = 'national'
    OR (renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture()
        AND kind IN ('health_centre', 'hospital', 'clinic', 'vendor'))
    OR (renkei_role() = 'hospital_admin' AND id = renkei_org())
  );

CREATE POLICY vendor_links_read ON vendor_links FOR SELECT USING (
  CASE renkei_role()
    WHEN 'national' THEN true
    WHEN 'prefecture' THEN prefecture_code = renkei_prefecture()
    WHEN 'hospital_admin' THEN hospital_id = renkei_org()
    WHEN 'hospital_staff' THEN hospital_id = renkei_org()
    WHEN 'vendor' THEN vendor_id = renkei_org()
    ELSE false
  END
);
CREATE POLICY vendor_links_insert ON vendor_links FOR INSERT WITH CHECK (
  renkei_role() = 'national'
  OR (renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture())
  OR (renkei_role() = 'hospital_admin' AND hospital_id = renkei_org())
);
CREATE POLICY vendor_links_delete ON vendor_links FOR DELETE USING (
  renkei_role() = 'national'
  OR (renkei_role() = 'prefecture' AND prefecture_code = renkei_prefecture())
  OR (renkei_role() = 'hospital_admin' AND hospital_id = renkei_org())
);

CREATE POLICY users_read ON users FOR SELECT USING (
  subject = renkei_subject()
  OR CASE renkei_role()
    WHEN 'national' THEN true
    WHEN 'prefecture' THEN organisation_id IN
      (SELECT id FROM organisations WHERE prefecture_code = renkei_prefecture() AND kind <> 'ministry')
    WHEN 'health_centre' THEN organisation_id = renkei_org()
    WHEN 'hospital_admin' THEN organisation_id = renkei_org()
    WHEN 'vendor' THEN organisation_id = renkei_org()
    ELSE false
  END
);
CREATE POLICY users_insert ON users FOR INSERT WITH CHECK (
  renkei_role() = 'national'
  OR (renkei_role() = 'prefecture' AND organisation_id IN
      (SELECT id FROM organisations WHERE prefecture_code = renkei_prefecture() AND kind <> 'ministry'))
  OR (renkei_role() = 'hospital_admin' AND organisation_id = renkei_org()
      AND role IN ('hospital_admin', 'hospital_staff'))
);
CREATE POLICY users_update ON users FOR UPDATE
  USING (
    renkei_role() = 'national'
    OR (renkei_role() = 'prefecture' AND organisation_id IN
      (SELECT id FROM organisations WHERE prefecture_code = renkei_prefecture() AND kind <> 'ministry'))
    OR (renkei_role() = 'hospital_admin' AND organisation_id = renkei_org()
        AND role IN ('hospital_admin', 'hospital_staff'))
  )
  WITH CHECK (
    renkei_role() = 'national'
    OR (renkei_role() = 'prefecture' AND organisation_id IN
      (SELECT id FROM organisations WHERE prefecture_code = renkei_prefecture() AND kind <> 'ministry'))
    OR (renkei_role() = 'hospital_admin' AND organisation_id = renkei_org()
        AND role IN ('hospital_admin', 'hospital_staff'))
  );

CREATE POLICY critical_designations_read ON critical_designations FOR SELECT USING (
  renkei_role() = 'national' OR hospital_id IN (SELECT id FROM organisations)
);
CREATE POLICY critical_designations_insert ON critical_designations FOR INSERT
  WITH CHECK (renkei_role() = 'national');
CREATE POLICY critical_designations_update ON critical_designations FOR UPDATE
  USING (renkei_role() = 'national') WITH CHECK (renkei_role() = 'national');

GRANT SELECT ON regions, prefectures TO renkei_app;
-- Readiness compares the applied migrations with those the binary carries.
GRANT SELECT ON __diesel_schema_migrations TO renkei_app;
GRANT SELECT, INSERT, UPDATE ON organisations, users, critical_designations TO renkei_app;
GRANT SELECT, INSERT, DELETE ON vendor_links TO renkei_app;
