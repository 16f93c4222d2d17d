-- The registry, not the token, decides what a caller may do. A token proves who is asking (its
-- issuer and subject); the caller's role, organisation and prefecture are those of an active
-- membership of that subject here. One person may act for several organisations (a vendor
-- engineer for several hospitals, someone working for both a prefecture office and a health
-- centre): a `users` row is now one membership, and a subject may have several, one per
-- organisation.

-- A membership invited by e-mail has no subject until its person first signs in with a token
-- whose verified e-mail matches (`renkei_sign_in`); the issuer is recorded when the subject is
-- bound that way (a subject named up front has none: it is the configured issuer's).
ALTER TABLE users ALTER COLUMN subject DROP NOT NULL;
ALTER TABLE users ADD COLUMN issuer text CHECK (char_length(issuer) BETWEEN 1 AND 1000);
ALTER TABLE users ADD COLUMN bound_at timestamptz;
-- Until now an invitation without a subject stored the user's own id in its place.
UPDATE users SET subject = NULL WHERE subject = id::text;
UPDATE users SET bound_at = created_at WHERE subject IS NOT NULL;

-- Unique within an organisation only: a national uniqueness let any tenant learn, from a
-- conflict, that an address or a subject was registered somewhere else.
ALTER TABLE users DROP CONSTRAINT users_subject_key;
DROP INDEX users_email;
CREATE UNIQUE INDEX users_subject_key ON users (organisation_id, subject);
CREATE UNIQUE INDEX users_email ON users (organisation_id, lower(email));
-- Sign-in looks a subject up on every request, and binds pending invitations by e-mail.
CREATE INDEX users_by_subject ON users (subject, created_at) WHERE active;
CREATE INDEX users_pending ON users (lower(email)) WHERE subject IS NULL AND active;

-- The same for organisations: a G-MIS id is unique within a prefecture (the ministry sees
-- duplicates across prefectures), and a medical-institution code starts with its prefecture's
-- JIS code (都道府県番号), so its national uniqueness never involves another prefecture.
ALTER TABLE organisations DROP CONSTRAINT organisations_gmis_id_key;
CREATE UNIQUE INDEX organisations_gmis_id_key ON organisations (prefecture_code, gmis_id);
ALTER TABLE organisations ADD CONSTRAINT organisations_code_prefecture
  CHECK (medical_institution_code IS NULL OR substr(medical_institution_code, 1, 2)::int = prefecture_code) NOT VALID;

DROP FUNCTION renkei_subject_deactivated(text);

-- Resolves the caller of a request from the registry and writes it into the transaction's
-- settings, in one statement (it rides on the round trip that sets the tenant settings, so the
-- registry costs no extra round trip). `wanted` chooses among the subject's memberships (the
-- `Renkei-Organisation` header or an `org` claim); without it the active membership bound
-- first is used, so a membership added later — by another tenant's invitation — never changes
-- which organisation a person acts for. `verified_email` (a token's `email` with `email_verified`)
-- first binds the pending invitations for that address to this subject, once each.
-- On refusal every setting is cleared and `problem` says why: 'unregistered', 'deactivated' or
-- 'not_member'.
CREATE FUNCTION renkei_sign_in(who_issuer text, who text, wanted uuid, verified_email text, timeout text)
RETURNS TABLE (organisation_id uuid, role text, org_prefecture smallint, problem text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  m record;
  found_one boolean;
BEGIN
  -- The lookups below read every membership of this subject, whatever tenant asks.
  PERFORM set_config('renkei.role', 'national', true);
  IF verified_email IS NOT NULL THEN
    UPDATE users u SET subject = who, issuer = who_issuer, bound_at = now()
     WHERE u.subject IS NULL AND u.active AND lower(u.email) = lower(verified_email)
       AND NOT EXISTS (SELECT 1 FROM users o WHERE o.organisation_id = u.organisation_id AND o.subject = who);
  END IF;
  -- A membership whose subject was named up front (by the ministry, or before issuers were
  -- recorded) has no issuer: it is the configured issuer's, the only one the API accepts.
  SELECT u.organisation_id, u.role, o.prefecture_code, u.active INTO m
    FROM users u JOIN organisations o ON o.id = u.organisation_id
   WHERE u.subject = who AND (u.issuer IS NULL OR u.issuer = who_issuer)
     AND (wanted IS NULL OR u.organisation_id = wanted)
   ORDER BY u.active DESC, u.bound_at, u.created_at, u.id
   LIMIT 1;
  found_one := FOUND;
  IF found_one AND m.active THEN
    -- The caller: these settings replace the lookup's.
    PERFORM set_config('renkei.role', m.role, true),
            set_config('renkei.org', m.organisation_id::text, true),
            set_config('renkei.prefecture', CASE WHEN m.role = 'prefecture' THEN m.prefecture_code::text ELSE '' END, true),
            set_config('renkei.subject', who, true),
            set_config('statement_timeout', timeout, true);
    RETURN QUERY SELECT m.organisation_id, m.role, m.prefecture_code, NULL::text;
    RETURN;
  END IF;
  -- Refused (only then is the reason looked up): no caller, and the answer says why.
  problem := CASE
    WHEN found_one THEN 'deactivated'
    WHEN EXISTS (SELECT 1 FROM users u WHERE u.subject = who AND (u.issuer IS NULL OR u.issuer = who_issuer))
      THEN 'not_member'
    ELSE 'unregistered'
  END;
  PERFORM set_config('renkei.role', '', true), set_config('renkei.org', '', true),
          set_config('renkei.prefecture', '', true), set_config('renkei.subject', '', true);
  RETURN QUERY SELECT NULL::uuid, NULL::text, NULL::smallint, problem;
END $$;
REVOKE ALL ON FUNCTION renkei_sign_in(text, text, uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION renkei_sign_in(text, text, uuid, text, text) TO renkei_app;

-- The signed-in person's own active memberships (for the organisation switcher), whatever
-- organisation they act for now: those of the subject in the settings, under the issuer of the
-- membership in use.
CREATE FUNCTION renkei_memberships()
RETURNS TABLE (organisation_id uuid, organisation_name text, role text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  caller text := current_setting('renkei.role', true);
  who text := renkei_subject();
  current_org uuid := renkei_org();
  who_issuer text;
BEGIN
  IF who IS NULL OR current_org IS NULL THEN
    RETURN;
  END IF;
  PERFORM set_config('renkei.role', 'national', true);
  SELECT u.issuer INTO who_issuer FROM users u WHERE u.subject = who AND u.organisation_id = current_org;
  RETURN QUERY SELECT u.organisation_id, o.name, u.role
    FROM users u JOIN organisations o ON o.id = u.organisation_id
   WHERE u.subject = who AND (u.issuer IS NULL OR who_issuer IS NULL OR u.issuer = who_issuer) AND u.active
   ORDER BY u.bound_at, u.created_at, u.id;
  PERFORM set_config('renkei.role', coalesce(caller, ''), true);
END $$;
REVOKE ALL ON FUNCTION renkei_memberships() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION renkei_memberships() TO renkei_app;
