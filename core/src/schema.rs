//! Diesel's view of the tables (see `migrations/sql` for the full definitions, constraints and
//! row-level-security policies).

diesel::table! {
    regions (code) {
        code -> Text,
        name_ja -> Text,
        name_en -> Text,
        sort_order -> Int2,
    }
}

diesel::table! {
    prefectures (code) {
        code -> Int2,
        name_ja -> Text,
        name_en -> Text,
        region_code -> Text,
    }
}

diesel::table! {
    organisations (id) {
        id -> Uuid,
        kind -> Text,
        name -> Text,
        name_en -> Nullable<Text>,
        prefecture_code -> Int2,
        jurisdiction_id -> Nullable<Uuid>,
        licensed_beds -> Nullable<Int4>,
        functions -> Array<Text>,
        ehr_in_use -> Nullable<Bool>,
        ehr_product -> Nullable<Text>,
        medical_institution_code -> Nullable<Text>,
        gmis_id -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    vendor_links (hospital_id, vendor_id) {
        hospital_id -> Uuid,
        vendor_id -> Uuid,
        prefecture_code -> Int2,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        organisation_id -> Uuid,
        subject -> Text,
        email -> Text,
        display_name -> Text,
        role -> Text,
        active -> Bool,
        deactivated_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    critical_designations (id) {
        id -> Uuid,
        hospital_id -> Uuid,
        designated_on -> Date,
        revoked_on -> Nullable<Date>,
        note -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(prefectures -> regions (region_code));
diesel::joinable!(organisations -> prefectures (prefecture_code));
diesel::joinable!(users -> organisations (organisation_id));
diesel::joinable!(critical_designations -> organisations (hospital_id));

diesel::allow_tables_to_appear_in_same_query!(
    regions,
    prefectures,
    organisations,
    vendor_links,
    users,
    critical_designations,
);

diesel::table! {
    audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        actor -> Text,
        role -> Text,
        organisation_id -> Nullable<Uuid>,
        prefecture_code -> Nullable<Int2>,
        operation -> Text,
        target_ids -> Array<Text>,
        outcome -> Text,
        request_id -> Text,
        prev_hash -> Bytea,
        hash -> Bytea,
    }
}
