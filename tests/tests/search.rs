//! The five search endpoints (`/api/{clubs,brands,competitions,seasons,kits}/search`):
//! result shapes, ranking (exact, prefix, contains, similar), the year in a
//! kit keyword, the 10-result cap, keyword validation, keywords full of
//! LIKE and SQL metacharacters, and the cache (normalised keys, fresh after
//! a write through the admin API). Fixture rows use made-up names
//! ("Quokka", "Numbat", …) that the seeded catalogue does not contain, so the
//! expected lists are exact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::sql_types::Integer;
use diesel::QueryableByName;
use fkapi_tests::{json, StatusCode, TestApp, Value};
use reqwest::Method;

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Integer)]
    id: i32,
}

/// Runs an `INSERT … RETURNING id` (or any query selecting `id`).
/// Inserts a row out of band and waits for the change feed to apply it, so
/// the test's first search cannot be filled before that invalidation lands.
async fn insert(app: &TestApp, sql: &str) -> i32 {
    // In scope here only: its `first` would shadow the slice method.
    use diesel_async::RunQueryDsl;
    let before = app.metric("fkapi_feed_records_applied_total", &[]).await;
    let rows = diesel::sql_query(sql).load::<IdRow>(&mut app.db().await).await.unwrap();
    app.wait_for_feed_past(before).await;
    rows.into_iter().next().unwrap_or_else(|| panic!("no row for {sql}")).id
}

async fn club(app: &TestApp, name: &str, slug: &str) -> i32 {
    let name = name.replace('\'', "''");
    insert(app, &format!("INSERT INTO clubs (name, slug, country) VALUES ('{name}', '{slug}', 'AU') RETURNING id"))
        .await
}

/// The season with this year label, created when the seeded data lacks it.
async fn season(app: &TestApp, year: &str) -> i32 {
    let (first, second) = match year.split_once('-') {
        Some((first, _)) => (first.to_string(), format!("'{}'", first.parse::<i32>().unwrap() + 1)),
        None => (year.to_string(), "NULL".to_string()),
    };
    app.sql(&format!(
        "INSERT INTO seasons (year, first_year, second_year) VALUES ('{year}', '{first}', {second}) ON CONFLICT (year) DO NOTHING"
    ))
    .await;
    insert(app, &format!("SELECT id FROM seasons WHERE year = '{year}'")).await
}

async fn kit(app: &TestApp, name: &str, club: i32, season: i32) -> i32 {
    let slug: String = name
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    insert(
        app,
        &format!(
            "INSERT INTO kits (name, slug, team_id, season_id, type_id, brand_id, main_img_url) \
             VALUES ('{name}', '{slug}', {club}, {season}, (SELECT min(id) FROM kit_types), (SELECT min(id) FROM brands), \
             'https://img.example/{slug}.jpg') RETURNING id"
        ),
    )
    .await
}

fn encode(keyword: &str) -> String {
    url::form_urlencoded::byte_serialize(keyword.as_bytes()).collect()
}

/// GET `/api/{what}/search?keyword=…` → (status, body, X-Cache).
async fn search(app: &TestApp, what: &str, keyword: &str) -> (StatusCode, Value, String) {
    app.get_json(&format!("/api/{what}/search?keyword={}", encode(keyword))).await
}

/// A successful search's results.
async fn results(app: &TestApp, what: &str, keyword: &str) -> Vec<Value> {
    let (status, body, _) = search(app, what, keyword).await;
    assert_eq!(status, StatusCode::OK, "{what} {keyword:?}: {body}");
    body.as_array().unwrap_or_else(|| panic!("{what} {keyword:?}: not an array: {body}")).clone()
}

fn field(list: &[Value], name: &str) -> Vec<String> {
    list.iter().map(|item| item[name].as_str().unwrap_or_default().to_string()).collect()
}

fn ids(list: &[Value]) -> Vec<i64> {
    list.iter().map(|item| item["id"].as_i64().unwrap()).collect()
}

fn keys(item: &Value) -> Vec<String> {
    let mut keys: Vec<String> = item.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn clubs_rank_exact_then_prefix_then_contains_then_similar() {
    let app = TestApp::spawn().await;
    let exact = club(&app, "Quokka", "quokka-club").await;
    let town = club(&app, "Quokka Town", "quokka-town").await;
    let ville = club(&app, "Quokkaville", "quokkaville").await;
    let rovers = club(&app, "FC Quokka Rovers", "fc-quokka-rovers").await;
    let typo = club(&app, "Quoka United", "quoka-united").await;
    let by_slug = club(&app, "Marsupial Athletic", "quokka").await;
    club(&app, "Wombat Wanderers", "wombat-wanderers").await;

    let found = results(&app, "clubs", "quokka").await;
    // Exact (name, then slug: shorter name first), prefix (same length: by
    // id), contains, then the typo through trigram similarity.
    assert_eq!(ids(&found)[..6], [exact, by_slug, town, ville, rovers, typo].map(i64::from), "{found:?}");
    assert!(!field(&found, "name").contains(&"Wombat Wanderers".to_string()));
    assert_eq!(keys(&found[0]), ["country", "id", "logo", "name", "slug"]);
    assert_eq!(found[0]["name"], "Quokka");
    assert_eq!(found[0]["slug"], "quokka-club");
    assert_eq!(found[0]["country"], "AU");
    assert!(found[0]["logo"].is_null());
}

#[tokio::test]
async fn search_ignores_case_and_accents_both_ways() {
    let app = TestApp::spawn().await;
    let accented = club(&app, "Málaga Wombats", "malaga-wombats").await;
    let plain = club(&app, "Munchen Numbats", "munchen-numbats").await;
    for keyword in ["malaga wombats", "MALAGA WOMBATS", "Málaga Wombats", "MÁLAGA wombats"] {
        let found = results(&app, "clubs", keyword).await;
        assert_eq!(ids(&found).first(), Some(&i64::from(accented)), "{keyword}: {found:?}");
        assert_eq!(found[0]["name"], "Málaga Wombats");
    }
    for keyword in ["München Numbats", "münchen", "MUNCHEN"] {
        let found = results(&app, "clubs", keyword).await;
        assert!(ids(&found).contains(&i64::from(plain)), "{keyword}: {found:?}");
    }
}

#[tokio::test]
async fn at_most_ten_results_shortest_names_first() {
    let app = TestApp::spawn().await;
    let mut created = Vec::new();
    for i in 1..=15 {
        created.push(club(&app, &format!("Wallaby {i:02}"), &format!("wallaby-{i:02}")).await);
    }
    let longer = club(&app, "Wallaby", "wallaby").await;
    let found = results(&app, "clubs", "wallaby").await;
    assert_eq!(found.len(), 10);
    let mut expected = vec![i64::from(longer)];
    expected.extend(created[..9].iter().map(|id| i64::from(*id)));
    assert_eq!(ids(&found), expected, "{found:?}");
}

#[tokio::test]
async fn keyword_is_required_and_bounded_on_every_endpoint() {
    let app = TestApp::spawn().await;
    let too_long = "a".repeat(101);
    let longest = "é".repeat(100);
    for what in ["clubs", "brands", "competitions", "seasons", "kits"] {
        // FKApi's kit and season searches take no keyword, or a blank one,
        // as "nothing to find"; the other three require one.
        let optional = matches!(what, "seasons" | "kits");
        let (status, body, _) = app.get_json(&format!("/api/{what}/search")).await;
        if optional {
            assert_eq!((status, &body), (StatusCode::OK, &json!([])), "{what}");
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
            assert_eq!(body, json!({"detail": "keyword is required"}), "{what}");
        }
        for blank in ["", "   ", " \t\n "] {
            let (status, body, _) = search(&app, what, blank).await;
            if optional {
                assert_eq!((status, &body), (StatusCode::OK, &json!([])), "{what} {blank:?}");
            } else {
                assert_eq!(status, StatusCode::BAD_REQUEST, "{what} {blank:?}: {body}");
            }
        }
        for bad in [too_long.as_str(), "ars\0enal"] {
            let (status, body, _) = search(&app, what, bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{what} {bad:?}: {body}");
            assert!(body["detail"].as_str().is_some_and(|d| d.contains("keyword")), "{what} {bad:?}: {body}");
        }
        // 100 characters (200 bytes) is allowed, and so is padding around it.
        let (status, body, _) = search(&app, what, &format!("  {longest}  ")).await;
        assert_eq!(status, StatusCode::OK, "{what}: {body}");
        assert_eq!(body, json!([]), "{what}");
    }
    // Other parameters are refused, never silently ignored.
    let (status, body, _) = app.get_json("/api/clubs/search?keyword=quokka&page=2").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["detail"], "unknown query parameter \"page\": this route accepts keyword");
}

#[tokio::test]
async fn metacharacters_are_plain_text() {
    let app = TestApp::spawn().await;
    let percent = club(&app, "100% Numbat", "hundred-percent-numbat").await;
    let underscore = club(&app, "Numbat_Club", "numbat-underscore-club").await;
    let spaced = club(&app, "Numbat Club", "numbat-club").await;
    let quoted = club(&app, "Numbat's \"Best\" [XI] *?\\", "numbats-best-xi").await;

    let found = results(&app, "clubs", "%").await;
    assert!(ids(&found).contains(&i64::from(percent)), "{found:?}");
    let found = results(&app, "clubs", "_").await;
    assert!(ids(&found).contains(&i64::from(underscore)), "{found:?}");
    assert!(!ids(&found).contains(&i64::from(spaced)), "{found:?}");
    // Unescaped, these would be wildcards matching the Numbat clubs (and a
    // lone backslash would be a broken LIKE pattern).
    for keyword in ["a%t", "n_mbat", "%%", "%_%", "__________", "\\%"] {
        let found = results(&app, "clubs", keyword).await;
        assert!(found.is_empty(), "{keyword}: {found:?}");
    }
    // Every result contains the keyword as typed: nothing is widened.
    for keyword in ["%", "_", "*", "?", "[", "]", "[]", "'", "\"", "\\", "%_", "\\_", "'='", "--;"] {
        for what in ["clubs", "brands", "competitions", "seasons", "kits"] {
            let found = results(&app, what, keyword).await;
            let texts = field(&found, if what == "seasons" { "year" } else { "name" });
            assert!(
                texts.iter().all(|name| name.to_lowercase().contains(&keyword.to_lowercase())),
                "{what} {keyword:?} widened: {texts:?}"
            );
        }
    }
    for keyword in ["[xi]", "numbat's \"best\"", "*?\\"] {
        let found = results(&app, "clubs", keyword).await;
        assert_eq!(ids(&found).first(), Some(&i64::from(quoted)), "{keyword}: {found:?}");
    }
    assert_eq!(ids(&results(&app, "clubs", "numbat_club").await).first(), Some(&i64::from(underscore)));
    assert_eq!(ids(&results(&app, "clubs", "numbat club").await).first(), Some(&i64::from(spaced)));
    // SQL in the keyword is text too.
    let (status, _, _) = search(&app, "clubs", "'; DROP TABLE clubs; --").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&results(&app, "clubs", "100% numbat").await).first(), Some(&i64::from(percent)));
}

#[tokio::test]
async fn brands_and_competitions_have_their_shapes_and_ranking() {
    let app = TestApp::spawn().await;
    let brand =
        insert(&app, "INSERT INTO brands (name, slug) VALUES ('Quokka Sports', 'quokka-sports-kits') RETURNING id")
            .await;
    let brand_contains =
        insert(&app, "INSERT INTO brands (name, slug) VALUES ('Real Quokka Sports Co', 'real-quokka') RETURNING id")
            .await;
    let found = results(&app, "brands", "Quokka Sports").await;
    // (Seeded brands may follow as similar names.)
    assert_eq!(ids(&found)[..2], [brand, brand_contains].map(i64::from), "{found:?}");
    assert_eq!(keys(&found[0]), ["id", "logo", "logo_dark", "name", "slug"]);
    // The slug is an exact match too.
    assert_eq!(ids(&results(&app, "brands", "quokka-sports-kits").await).first(), Some(&i64::from(brand)));

    let league = insert(
        &app,
        "INSERT INTO competitions (name, slug, country) VALUES ('Quokka League', 'quokka-league-kits', 'AU') RETURNING id",
    )
    .await;
    let cup = insert(
        &app,
        "INSERT INTO competitions (name, slug, country) VALUES ('Quokka League Cup', 'quokka-league-cup', 'AU') RETURNING id",
    )
    .await;
    let found = results(&app, "competitions", "quokka league").await;
    assert_eq!(ids(&found)[..2], [league, cup].map(i64::from), "{found:?}");
    assert_eq!(keys(&found[0]), ["country", "id", "logo", "logo_dark", "name", "slug"]);
    assert_eq!(found[0]["country"], "AU");
}

#[tokio::test]
async fn seasons_match_a_year_in_either_half_newest_first() {
    let app = TestApp::spawn().await;
    let single = season(&app, "2025").await;
    let starting = season(&app, "2025-26").await;
    let ending = season(&app, "2024-25").await;
    let found = results(&app, "seasons", "2025").await;
    assert_eq!(ids(&found)[..3], [single, starting, ending].map(i64::from), "{found:?}");
    assert_eq!(keys(&found[0]), ["id", "year"]);
    assert_eq!(found[0]["year"], "2025");
    let found = results(&app, "seasons", "2024-25").await;
    assert_eq!(ids(&found).first(), Some(&i64::from(ending)), "{found:?}");
    let found = results(&app, "seasons", "2024/25").await;
    assert_eq!(ids(&found).first(), Some(&i64::from(ending)), "{found:?}");
    // Prefix matches come newest first.
    let found = results(&app, "seasons", "19").await;
    let years = field(&found, "year");
    let mut sorted = years.clone();
    sorted.sort_by(|a, b| b[..4].cmp(&a[..4]).then(a.len().cmp(&b.len())));
    assert_eq!(years, sorted);
    assert!(years.iter().all(|y| y.starts_with("19")), "{years:?}");
}

#[tokio::test]
async fn kits_with_a_year_search_within_that_season() {
    let app = TestApp::spawn().await;
    let quokka = club(&app, "Quokka", "quokka").await;
    let (s0506, s0405, s2005, s0607) = (
        season(&app, "2005-06").await,
        season(&app, "2004-05").await,
        season(&app, "2005").await,
        season(&app, "2006-07").await,
    );
    let home_0506 = kit(&app, "Quokka 2005-06 Home", quokka, s0506).await;
    let home_0405 = kit(&app, "Quokka 2004-05 Home", quokka, s0405).await;
    let home_2005 = kit(&app, "Quokka 2005 Home", quokka, s2005).await;
    let _home_0607 = kit(&app, "Quokka 2006-07 Home", quokka, s0607).await;
    let away_0506 = kit(&app, "Quokka 2005-06 Away", quokka, s0506).await;

    // Seasons starting in 2005 first, then ending in it, then the calendar
    // year; 2006-07 is left out although its name matches "quokka".
    let found = results(&app, "kits", "Quokka 2005").await;
    assert_eq!(ids(&found), [home_0506, away_0506, home_0405, home_2005].map(i64::from), "{found:?}");
    assert_eq!(keys(&found[0]), ["id", "main_img_url", "name", "season_year", "slug", "team_name"]);
    assert_eq!(found[0]["team_name"], "Quokka");
    assert_eq!(found[0]["season_year"], "2005-06");
    assert_eq!(found[0]["slug"], "quokka-2005-06-home");
    assert_eq!(found[0]["main_img_url"], "https://img.example/quokka-2005-06-home.jpg");
    // The year may come first, and a span names one season.
    assert_eq!(ids(&results(&app, "kits", "2005 quokka").await), ids(&found));
    assert_eq!(ids(&results(&app, "kits", "quokka 2005-06").await), [home_0506, away_0506].map(i64::from));
    assert_eq!(ids(&results(&app, "kits", "quokka 2005/2006").await), [home_0506, away_0506].map(i64::from));
    // Without a year: every Quokka kit, shortest name first.
    let all = results(&app, "kits", "quokka").await;
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(all[0]["id"], home_2005, "{all:?}");

    // Only a year: that season's kits, by name.
    let found = results(&app, "kits", "2005").await;
    assert!(!found.is_empty() && found.len() <= 10);
    let seasons = field(&found, "season_year");
    let rank = |year: &str| ["2005-06", "2004-05", "2005"].iter().position(|y| *y == year).unwrap();
    let ranks: Vec<usize> = seasons.iter().map(|y| rank(y)).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{seasons:?}");
    let names = field(&found, "name");
    for pair in found.windows(2) {
        if pair[0]["season_year"] == pair[1]["season_year"] {
            assert!(pair[0]["name"].as_str() <= pair[1]["name"].as_str(), "{names:?}");
        }
    }
}

#[tokio::test]
async fn normalised_keywords_share_one_cache_entry() {
    let app = TestApp::spawn().await;
    let id = club(&app, "Quokka", "quokka").await;
    let (_, first, cache) = search(&app, "clubs", "quokka").await;
    assert_eq!(cache, "MISS");
    assert_eq!(first[0]["id"], id);
    for keyword in ["quokka", "  QUOKKA ", "Quokka", "\tquOKKa\n"] {
        let (status, body, cache) = search(&app, "clubs", keyword).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(cache, "HIT", "{keyword:?}");
        assert_eq!(body, first);
    }
    assert_eq!(app.metric("fkapi_cache_loads_total", &[("cache_type", "search_clubs")]).await, 1.0);
    // Inner whitespace is collapsed too.
    let (_, _, cache) = search(&app, "clubs", "quokka  town").await;
    assert_eq!(cache, "MISS");
    let (_, _, cache) = search(&app, "clubs", " quokka town ").await;
    assert_eq!(cache, "HIT");
    // Errors are never cached.
    let (status, _, _) = search(&app, "brands", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for what in ["brands", "competitions", "seasons", "kits"] {
        let (_, _, first) = search(&app, what, "quokka").await;
        let (_, _, second) = search(&app, what, "QUOKKA").await;
        assert_eq!((first.as_str(), second.as_str()), ("MISS", "HIT"), "{what}");
    }
}

#[tokio::test]
async fn club_writes_show_in_search_at_once() {
    let app = TestApp::spawn().await;
    let quokka = club(&app, "Quokka", "quokka").await;
    let s0506 = season(&app, "2005-06").await;
    let kit_id = kit(&app, "Quokka 2005-06 Home", quokka, s0506).await;
    app.without_change_notifications().await;

    assert_eq!(results(&app, "clubs", "bilby").await, Vec::<Value>::new());
    let (_, _, cache) = search(&app, "clubs", "bilby").await;
    assert_eq!(cache, "HIT");
    let (status, created) = app
        .admin_json(
            Method::POST,
            "/api/clubs",
            &json!({"name": "Bilby Rovers", "slug": "bilby-rovers", "country": "AU"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let found = results(&app, "clubs", "bilby").await;
    assert_eq!(ids(&found), [created["id"].as_i64().unwrap()], "{found:?}");

    // A rename shows in club search and in the kits that show the club.
    let kits_before = results(&app, "kits", "quokka 2005").await;
    assert_eq!(kits_before[0]["team_name"], "Quokka");
    let (_, _, cache) = search(&app, "kits", "quokka 2005").await;
    assert_eq!(cache, "HIT");
    let (status, body) =
        app.admin_json(Method::PATCH, &format!("/api/clubs/{quokka}"), &json!({"name": "Bilby Quokkas"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let found = results(&app, "clubs", "bilby").await;
    assert_eq!(field(&found, "name"), ["Bilby Rovers", "Bilby Quokkas"], "{found:?}");
    let kits_after = results(&app, "kits", "quokka 2005").await;
    assert_eq!(kits_after[0]["id"], kit_id);
    assert_eq!(kits_after[0]["team_name"], "Bilby Quokkas");
}
