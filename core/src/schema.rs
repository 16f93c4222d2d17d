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
        subject -> Nullable<Text>,
        email -> Text,
        display_name -> Text,
        role -> Text,
        active -> Bool,
        deactivated_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        issuer -> Nullable<Text>,
        bound_at -> Nullable<Timestamptz>,
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

diesel::table! {
    flowchart_steps (code) {
        code -> Text,
        sort_order -> Int2,
        phase -> Text,
        title_ja -> Text,
        title_en -> Text,
        actors -> Array<Text>,
    }
}

diesel::table! {
    ransomware_points (no) {
        no -> Int2,
        level -> Text,
        steps -> Array<Text>,
        pitfall_ja -> Text,
        point_ja -> Text,
        point_en -> Text,
    }
}

diesel::table! {
    incidents (id) {
        id -> Uuid,
        hospital_id -> Uuid,
        prefecture_code -> Int2,
        jurisdiction_id -> Nullable<Uuid>,
        kind -> Text,
        phase -> Text,
        title -> Text,
        discovered_at -> Timestamptz,
        suspected_cyber_attack -> Bool,
        infection_vector -> Nullable<Text>,
        personal_data_leak -> Text,
        leak_learned_on -> Nullable<Date>,
        wrongful_intent -> Bool,
        contained_at -> Nullable<Timestamptz>,
        recovered_at -> Nullable<Timestamptz>,
        current_version -> Int4,
        reported_by -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        closed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    incident_versions (incident_id, version) {
        incident_id -> Uuid,
        version -> Int4,
        report_kind -> Text,
        report -> Jsonb,
        submitted_by -> Text,
        submitted_at -> Timestamptz,
    }
}

diesel::table! {
    incident_events (id) {
        id -> Uuid,
        incident_id -> Uuid,
        step -> Text,
        occurred_at -> Timestamptz,
        actor -> Text,
        note -> Nullable<Text>,
        recorded_by -> Text,
        recorded_at -> Timestamptz,
    }
}

diesel::table! {
    incident_notifications (incident_id, recipient) {
        incident_id -> Uuid,
        recipient -> Text,
        notified_at -> Timestamptz,
        reference -> Nullable<Text>,
        recorded_by -> Text,
        recorded_at -> Timestamptz,
    }
}

diesel::table! {
    incident_tasks (id) {
        id -> Uuid,
        incident_id -> Uuid,
        title -> Text,
        assignee -> Nullable<Text>,
        due_on -> Nullable<Date>,
        step -> Nullable<Text>,
        required -> Bool,
        done_at -> Nullable<Timestamptz>,
        created_by -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    ransomware_preparedness (hospital_id, point_no) {
        hospital_id -> Uuid,
        point_no -> Int2,
        done -> Bool,
        note -> Nullable<Text>,
        prefecture_code -> Int2,
        updated_by -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    jobs (id) {
        id -> Int8,
        kind -> Text,
        payload -> Jsonb,
        run_at -> Timestamptz,
        attempts -> Int4,
        max_attempts -> Int4,
        last_error -> Nullable<Text>,
        dedup_key -> Nullable<Text>,
        trace -> Jsonb,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        dead_at -> Nullable<Timestamptz>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    regions,
    prefectures,
    organisations,
    vendor_links,
    users,
    critical_designations,
    incidents,
    incident_notifications,
    incident_tasks,
    incident_events,
    user_alert_preferences,
);

diesel::table! {
    user_alert_preferences (user_id, alert) {
        user_id -> Uuid,
        alert -> Text,
        enabled -> Bool,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    email_deliveries (key) {
        key -> Text,
        job_id -> Int8,
        recipient -> Text,
        subject -> Text,
        sent_at -> Timestamptz,
    }
}

diesel::table! {
    bundles (id) {
        id -> Uuid,
        prefecture_code -> Nullable<Int2>,
        fiscal_year -> Int2,
        status -> Text,
        requested_by -> Text,
        created_at -> Timestamptz,
        ready_at -> Nullable<Timestamptz>,
        sha256 -> Nullable<Text>,
        size_bytes -> Nullable<Int4>,
        content -> Nullable<Bytea>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    checklist_catalogs (id) {
        id -> Uuid,
        fiscal_year -> Int2,
        form -> Text,
        title -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    checklist_items (catalog_id, code) {
        catalog_id -> Uuid,
        code -> Text,
        position -> Int2,
        section_ja -> Text,
        section_en -> Text,
        text_ja -> Text,
        text_en -> Text,
        answer_type -> Text,
        choices -> Array<Text>,
        status -> Text,
        note -> Nullable<Text>,
        kpi -> Nullable<Text>,
    }
}

diesel::joinable!(checklist_items -> checklist_catalogs (catalog_id));
diesel::allow_tables_to_appear_in_same_query!(checklist_items, checklist_catalogs);

diesel::table! {
    submissions (id) {
        id -> Uuid,
        hospital_id -> Uuid,
        catalog_id -> Uuid,
        vendor_id -> Nullable<Uuid>,
        prefecture_code -> Int2,
        jurisdiction_id -> Nullable<Uuid>,
        status -> Text,
        draft_answers -> Jsonb,
        revision -> Int4,
        updated_by -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    submission_revisions (submission_id, revision) {
        submission_id -> Uuid,
        revision -> Int4,
        answers -> Jsonb,
        submitted_by -> Text,
        submitted_at -> Timestamptz,
        review_outcome -> Nullable<Text>,
        review_comments -> Jsonb,
        reviewed_by -> Nullable<Text>,
        reviewed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    submission_windows (prefecture_code, fiscal_year) {
        prefecture_code -> Int2,
        fiscal_year -> Int2,
        opens_on -> Date,
        closes_on -> Date,
        inspection_from -> Nullable<Date>,
        inspection_until -> Nullable<Date>,
        set_by -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    inspections (id) {
        id -> Uuid,
        hospital_id -> Uuid,
        prefecture_code -> Int2,
        jurisdiction_id -> Uuid,
        fiscal_year -> Int2,
        inspected_on -> Date,
        inspector -> Text,
        findings -> Jsonb,
        follow_up_on -> Nullable<Date>,
        recorded_by -> Text,
        created_at -> Timestamptz,
    }
}
