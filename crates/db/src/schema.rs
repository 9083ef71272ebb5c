//! The diesel table definitions, matching `migrations/` by hand (diesel_cli
//! needs libpq, which this project does without).

diesel::table! {
    clubs (id) {
        id -> Int4,
        id_fka -> Nullable<Int4>,
        name -> Varchar,
        slug -> Varchar,
        logo -> Nullable<Varchar>,
        logo_dark -> Nullable<Varchar>,
        country -> Nullable<Bpchar>,
    }
}

diesel::table! {
    seasons (id) {
        id -> Int4,
        year -> Varchar,
        first_year -> Varchar,
        second_year -> Nullable<Varchar>,
    }
}

diesel::table! {
    brands (id) {
        id -> Int4,
        name -> Varchar,
        slug -> Varchar,
        logo -> Nullable<Varchar>,
        logo_dark -> Nullable<Varchar>,
    }
}

diesel::table! {
    competitions (id) {
        id -> Int4,
        name -> Varchar,
        slug -> Varchar,
        logo -> Nullable<Varchar>,
        logo_dark -> Nullable<Varchar>,
        country -> Nullable<Bpchar>,
    }
}

diesel::table! {
    kit_types (id) {
        id -> Int4,
        name -> Varchar,
        category -> Varchar,
        category_order -> Int4,
        order_priority -> Int4,
        is_goalkeeper -> Bool,
    }
}

diesel::table! {
    colors (id) {
        id -> Int4,
        name -> Varchar,
        color -> Bpchar,
    }
}

diesel::table! {
    kits (id) {
        id -> Int4,
        name -> Varchar,
        slug -> Varchar,
        team_id -> Int4,
        season_id -> Int4,
        type_id -> Int4,
        brand_id -> Int4,
        design -> Nullable<Varchar>,
        main_img_url -> Varchar,
        rating -> Nullable<Numeric>,
        primary_color_id -> Nullable<Int4>,
        last_updated -> Timestamptz,
    }
}

diesel::table! {
    kit_competitions (kit_id, competition_id) {
        kit_id -> Int4,
        competition_id -> Int4,
    }
}

diesel::table! {
    kit_secondary_colors (kit_id, color_id) {
        kit_id -> Int4,
        color_id -> Int4,
    }
}

diesel::joinable!(kits -> clubs (team_id));
diesel::joinable!(kits -> seasons (season_id));
diesel::joinable!(kits -> kit_types (type_id));
diesel::joinable!(kits -> brands (brand_id));
diesel::joinable!(kits -> colors (primary_color_id));
diesel::joinable!(kit_competitions -> kits (kit_id));
diesel::joinable!(kit_competitions -> competitions (competition_id));
diesel::joinable!(kit_secondary_colors -> kits (kit_id));
diesel::joinable!(kit_secondary_colors -> colors (color_id));

diesel::allow_tables_to_appear_in_same_query!(
    clubs,
    seasons,
    brands,
    competitions,
    kit_types,
    colors,
    kits,
    kit_competitions,
    kit_secondary_colors,
    users,
    collection_entries,
);

diesel::table! {
    users (id) {
        id -> Int4,
        username -> Varchar,
        token_hash -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    collection_entries (user_id, kit_id) {
        user_id -> Int4,
        kit_id -> Int4,
        size -> Nullable<Varchar>,
        condition -> Nullable<Varchar>,
        notes -> Nullable<Varchar>,
        added_at -> Timestamptz,
    }
}

diesel::joinable!(collection_entries -> users (user_id));
diesel::joinable!(collection_entries -> kits (kit_id));
