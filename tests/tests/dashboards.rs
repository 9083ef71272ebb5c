//! The monitoring files under deploy/: the Prometheus scrape config, the
//! alert rules (and their promtool unit tests) and the Grafana dashboard
//! parse, are complete, and name only metrics and labels that a running
//! fkapi really exports at /metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fkapi_tests::{json, StatusCode, TestApp, TestRedis};
use reqwest::Method;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

const ALERTS: &[&str] = &[
    "FkapiCacheHitRateLow",
    "FkapiCacheErrors",
    "FkapiRedisDown",
    "FkapiHighLatencyP99",
    "FkapiHttp5xx",
    "FkapiRedisMemoryHigh",
    "FkapiFeedLagHigh",
];

/// Labels Prometheus adds to every scraped series.
const TARGET_LABELS: &[&str] = &["instance", "job", "__name__"];

fn deploy(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("deploy/{path} is not valid YAML: {e}"))
}

fn dashboard() -> Json {
    serde_json::from_str(&read("grafana/fkapi-dashboard.json"))
        .unwrap_or_else(|e| panic!("deploy/grafana/fkapi-dashboard.json is not valid JSON: {e}"))
}

fn seq(value: &Yaml) -> &[Yaml] {
    value.as_sequence().map_or(&[], Vec::as_slice)
}

fn text(value: &Yaml) -> &str {
    value.as_str().unwrap_or_default()
}

/// Every rule of every group in alerts.yml.
fn rules() -> Vec<Yaml> {
    seq(&yaml("prometheus/alerts.yml")["groups"]).iter().flat_map(|g| seq(&g["rules"]).to_vec()).collect()
}

/// Every panel of the dashboard, including those inside collapsed rows.
fn panels(dashboard: &Json) -> Vec<Json> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("dashboard panels") {
        all.push(panel.clone());
        all.extend(panel["panels"].as_array().cloned().unwrap_or_default());
    }
    all
}

/// Whether `value` is a Prometheus duration such as `5m` or `1h30m`.
fn is_duration(value: &str) -> bool {
    let mut digits = false;
    let mut units = 0;
    for c in value.chars() {
        if c.is_ascii_digit() {
            digits = true;
        } else if "smhdwy".contains(c) && digits {
            digits = false;
            units += 1;
        } else {
            return false;
        }
    }
    units > 0 && !digits
}

/// Every PromQL expression (or series selector) in the deploy files, with
/// where it came from.
fn expressions() -> Vec<(String, String)> {
    let mut found = Vec::new();
    for rule in rules() {
        found.push((format!("alerts.yml {}", text(&rule["alert"])), text(&rule["expr"]).to_string()));
    }
    for test in seq(&yaml("prometheus/alerts_test.yml")["tests"]) {
        for series in seq(&test["input_series"]) {
            found.push(("alerts_test.yml input series".into(), text(&series["series"]).to_string()));
        }
        for case in seq(&test["promql_expr_test"]) {
            found.push(("alerts_test.yml promql_expr_test".into(), text(&case["expr"]).to_string()));
        }
    }
    let dashboard = dashboard();
    for panel in panels(&dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let origin = format!("dashboard panel {:?} target {}", panel["title"], target["refId"]);
            found.push((origin, target["expr"].as_str().unwrap_or_default().to_string()));
        }
    }
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        if variable["type"] == "query" {
            let origin = format!("dashboard variable {}", variable["name"]);
            let query = variable["query"]["query"].as_str().or_else(|| variable["query"].as_str()).unwrap_or_default();
            found.push((origin.clone(), query.to_string()));
            found.push((origin, variable["definition"].as_str().unwrap_or_default().to_string()));
        }
    }
    found
}

/// One `fkapi_…{label=…}` selector in an expression.
#[derive(Debug)]
struct Selector {
    metric: String,
    labels: Vec<String>,
}

/// The fkapi metric selectors of a PromQL expression, and the labels named
/// in its `by`, `without`, `on`, `ignoring` and `group_*` clauses. Strings,
/// comments, `$variables`, numbers and durations are skipped, so only real
/// identifiers count.
fn scan(expr: &str) -> (Vec<Selector>, Vec<String>) {
    let chars: Vec<char> = expr.chars().collect();
    let mut selectors = Vec::new();
    let mut grouping = Vec::new();
    let mut i = 0;
    let ident_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let ident_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    let skip_string = |i: &mut usize| {
        let quote = chars[*i];
        *i += 1;
        while *i < chars.len() && chars[*i] != quote {
            *i += if chars[*i] == '\\' && quote != '`' { 2 } else { 1 };
        }
        *i += 1;
    };
    let read_ident = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && ident_char(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            skip_string(&mut i);
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '$' {
            i += 1;
            read_ident(&mut i);
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if ident_start(c) {
            let ident = read_ident(&mut i);
            let mut after = i;
            skip_ws(&mut after);
            let next = chars.get(after).copied();
            if ["by", "without", "on", "ignoring", "group_left", "group_right"].contains(&ident.as_str())
                && next == Some('(')
            {
                i = after + 1;
                while i < chars.len() && chars[i] != ')' {
                    if ident_start(chars[i]) {
                        grouping.push(read_ident(&mut i));
                    } else {
                        i += 1;
                    }
                }
            } else if ident.starts_with("fkapi_") {
                let mut labels = Vec::new();
                if next == Some('{') {
                    i = after + 1;
                    loop {
                        skip_ws(&mut i);
                        match chars.get(i) {
                            None => break,
                            Some('}') => {
                                i += 1;
                                break;
                            }
                            Some('"' | '\'' | '`') => skip_string(&mut i),
                            Some(&c) if ident_start(c) => labels.push(read_ident(&mut i)),
                            Some(_) => i += 1,
                        }
                    }
                }
                selectors.push(Selector { metric: ident, labels });
            }
        } else {
            i += 1;
        }
    }
    (selectors, grouping)
}

/// What a live /metrics exports: each family's kind (from `# TYPE` lines)
/// and the label names seen on each sample name.
#[derive(Default)]
struct Exported {
    kinds: BTreeMap<String, String>,
    labels: BTreeMap<String, BTreeSet<String>>,
}

fn exported(body: &str) -> Exported {
    let mut exported = Exported::default();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                exported.kinds.insert(name.to_string(), kind.to_string());
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = exported.labels.entry(line[..end].to_string()).or_default();
        if line[end..].starts_with('{') {
            // name="value",… with escaped quotes inside values; route values
            // contain braces, so the value is read quote to quote.
            let chars: Vec<char> = line[end + 1..].chars().collect();
            let mut i = 0;
            while i < chars.len() && chars[i] != '}' {
                let start = i;
                while i < chars.len() && chars[i] != '=' {
                    i += 1;
                }
                labels.insert(chars[start..i].iter().collect::<String>().trim_matches(',').trim().to_string());
                i += 2; // `="`
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                if chars.get(i) == Some(&',') {
                    i += 1;
                }
            }
        }
    }
    exported
}

impl Exported {
    /// The exported family a referenced name belongs to: itself, or a
    /// histogram's `_bucket`/`_sum`/`_count` series.
    fn family(&self, name: &str) -> Option<String> {
        if self.kinds.contains_key(name) {
            return Some(name.to_string());
        }
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = name.strip_suffix(suffix)?;
            let kind = self.kinds.get(base)?;
            (kind == "histogram" || (kind == "summary" && *suffix != "_bucket")).then(|| base.to_string())
        })
    }

    fn labels_of(&self, sample: &str) -> BTreeSet<String> {
        let mut labels = self.labels.get(sample).cloned().unwrap_or_default();
        labels.extend(TARGET_LABELS.iter().map(|l| l.to_string()));
        labels
    }
}

/// Runs a server through hits, misses, a 404, an invalidation, a stale
/// serve, the entries sample and a Redis outage, so that every labelled
/// series exists (a vector with no children is left out of /metrics), and
/// returns its /metrics text.
async fn metrics_of_a_busy_app() -> String {
    let mut redis = TestRedis::start();
    let url = redis.url();
    let app = TestApp::spawn_with(move |s| {
        s.redis_url = Some(fkapi_api::config::Secret(url));
        s.entries_sample_secs = 1;
        s.cache.op_timeout = Duration::from_millis(200);
        s.cache.breaker_cooldown = Duration::from_millis(200);
        // Club entries expire after a second and may then be served stale.
        s.cache.ttl.very_long = Duration::from_secs(1);
        s.cache.ttl.jitter = 0.0;
        s.cache.xfetch_beta = 0.0;
    })
    .await;
    assert_eq!(app.get_json("/api/clubs/2").await.2, "MISS");
    assert_eq!(app.get_json("/api/clubs/1").await.2, "MISS");
    assert_eq!(app.get_json("/api/clubs/1").await.2, "HIT");
    assert_eq!(app.get_json("/api/clubs/999999").await.0, StatusCode::NOT_FOUND);
    let (status, body) =
        app.admin_json(Method::POST, "/api/admin/cache/invalidate", &json!({"scope": "club", "id": 1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(app.get_json("/api/clubs/2").await.2, "STALE");
    // The background sampler fills the entries gauge (every second here).
    let mut sampled = false;
    for _ in 0..50 {
        if app.get("/metrics").await.text().await.unwrap().contains("# TYPE fkapi_cache_entries ") {
            sampled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sampled, "fkapi_cache_entries was never sampled");
    // Redis goes away: errors and bypasses.
    redis.stop();
    assert_eq!(app.get_json("/api/clubs/3").await.2, "BYPASS");
    app.get("/metrics").await.text().await.unwrap()
}

#[test]
fn prometheus_config_scrapes_fkapi_and_loads_the_alerts() {
    let config = yaml("prometheus/prometheus.yml");
    let rule_files: Vec<&str> = seq(&config["rule_files"]).iter().map(text).collect();
    assert!(rule_files.contains(&"alerts.yml"), "rule_files must load alerts.yml: {rule_files:?}");
    for file in rule_files {
        assert!(deploy(&format!("prometheus/{file}")).exists(), "rule file {file} is missing");
    }
    let jobs = seq(&config["scrape_configs"]);
    let job = jobs.iter().find(|job| text(&job["job_name"]) == "fkapi").expect("a scrape job named fkapi");
    assert_eq!(text(&job["metrics_path"]), "/metrics");
    assert_eq!(text(&job["scrape_interval"]), "15s");
    let targets: Vec<&str> =
        seq(&job["static_configs"]).iter().flat_map(|s| seq(&s["targets"]).iter().map(text)).collect();
    assert!(targets.contains(&"127.0.0.1:8080"), "targets: {targets:?}");
}

#[test]
fn alert_rules_are_complete() {
    let alerts = yaml("prometheus/alerts.yml");
    assert!(seq(&alerts["groups"]).iter().any(|g| text(&g["name"]) == "fkapi"), "no rule group named fkapi");
    let rules = rules();
    let mut names = BTreeSet::new();
    for rule in &rules {
        let name = text(&rule["alert"]);
        assert!(!name.is_empty(), "a rule without `alert`: {rule:?}");
        assert!(names.insert(name.to_string()), "alert {name} is defined twice");
        assert!(!text(&rule["expr"]).trim().is_empty(), "{name}: no expr");
        assert!(is_duration(text(&rule["for"])), "{name}: `for` must be a duration, is {:?}", rule["for"]);
        let severity = text(&rule["labels"]["severity"]);
        assert!(["critical", "warning", "info"].contains(&severity), "{name}: severity {severity:?}");
        assert!(!text(&rule["annotations"]["summary"]).is_empty(), "{name}: no annotations.summary");
        assert!(!text(&rule["annotations"]["description"]).is_empty(), "{name}: no annotations.description");
        assert!(!scan(text(&rule["expr"])).0.is_empty(), "{name}: expr names no fkapi metric");
    }
    for wanted in ALERTS {
        assert!(names.contains(*wanted), "alert {wanted} is missing");
    }
}

#[test]
fn dashboard_is_complete() {
    let dashboard = dashboard();
    assert_eq!(dashboard["schemaVersion"], 39);
    assert!(
        dashboard["__inputs"].as_array().into_iter().flatten().any(|input| input["name"] == "DS_PROMETHEUS"
            && input["type"] == "datasource"
            && input["pluginId"] == "prometheus"),
        "no DS_PROMETHEUS datasource input"
    );
    let variables = dashboard["templating"]["list"].as_array().expect("templating.list");
    let variable = |name: &str| variables.iter().find(|v| v["name"] == name);
    assert_eq!(variable("DS_PROMETHEUS").expect("DS_PROMETHEUS variable")["type"], "datasource");
    assert_eq!(variable("cache_type").expect("cache_type variable")["type"], "query");
    let mut ids = BTreeSet::new();
    let mut uses_cache_type = false;
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a panel without a title");
        assert!(ids.insert(panel["id"].as_i64().expect("panel id")), "panel id {} repeats", panel["id"]);
        assert!(panel["gridPos"]["w"].is_number() && panel["gridPos"]["h"].is_number(), "{title}: gridPos");
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}: datasource");
        let targets =
            panel["targets"].as_array().filter(|t| !t.is_empty()).unwrap_or_else(|| panic!("{title}: no targets"));
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(!expr.trim().is_empty(), "{title}: a target without expr");
            assert!(!scan(expr).0.is_empty(), "{title}: {expr} names no fkapi metric");
            uses_cache_type |= expr.contains("$cache_type");
        }
    }
    assert!(uses_cache_type, "no panel filters by $cache_type");
}

#[test]
fn the_scanner_finds_metrics_and_labels_only() {
    let (selectors, grouping) = scan(
        r#"histogram_quantile(0.99, sum by (le, route) (rate(fkapi_http_request_duration_seconds_bucket{instance=~"$instance", route!="fkapi_not_a_metric"}[$__rate_interval]))) > 0.25 and on(instance) up{job="fkapi"} # fkapi_comment"#,
    );
    assert_eq!(selectors.len(), 1, "{selectors:?}");
    assert_eq!(selectors[0].metric, "fkapi_http_request_duration_seconds_bucket");
    assert_eq!(selectors[0].labels, ["instance", "route"]);
    assert_eq!(grouping, ["le", "route", "instance"]);
    let ex = exported(
        "# TYPE fkapi_x histogram\nfkapi_x_bucket{route=\"/a/{id}\",le=\"0.5\"} 1\n# TYPE fkapi_y_total counter\nfkapi_y_total 3\n",
    );
    assert_eq!(ex.family("fkapi_x_bucket").as_deref(), Some("fkapi_x"));
    assert_eq!(ex.family("fkapi_x_count").as_deref(), Some("fkapi_x"));
    assert_eq!(ex.family("fkapi_y_total").as_deref(), Some("fkapi_y_total"));
    assert_eq!(ex.family("fkapi_y_total_count"), None);
    assert_eq!(ex.labels["fkapi_x_bucket"], BTreeSet::from(["route".to_string(), "le".to_string()]));
}

#[tokio::test]
async fn every_metric_the_monitoring_files_name_is_exported() {
    let body = metrics_of_a_busy_app().await;
    let exported = exported(&body);
    let mut problems = Vec::new();
    // Families some dashboard panel shows.
    let mut referenced = BTreeSet::new();
    for (origin, expr) in expressions() {
        let on_dashboard = origin.starts_with("dashboard panel");
        let (selectors, grouping) = scan(&expr);
        let mut available = BTreeSet::new();
        for selector in &selectors {
            let Some(family) = exported.family(&selector.metric) else {
                problems.push(format!("{origin}: {} is not exported", selector.metric));
                continue;
            };
            if on_dashboard {
                referenced.insert(family);
            }
            let labels = exported.labels_of(&selector.metric);
            for label in &selector.labels {
                if !labels.contains(label) {
                    problems.push(format!("{origin}: {} has no label {label} (has {labels:?})", selector.metric));
                }
            }
            available.extend(labels);
        }
        // Grouping labels are only checked against metrics that resolved.
        if selectors.is_empty() || selectors.iter().any(|s| exported.family(&s.metric).is_none()) {
            continue;
        }
        for label in grouping {
            if !available.contains(&label) {
                problems.push(format!("{origin}: groups by {label}, which none of its metrics has"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the deploy files name metrics or labels that /metrics does not export:\n  {}\nexported: {:?}",
        problems.join("\n  "),
        exported.kinds.keys().collect::<Vec<_>>()
    );
    let fkapi: Vec<&String> = exported.kinds.keys().filter(|name| name.starts_with("fkapi_")).collect();
    assert!(fkapi.len() >= 11, "too few fkapi metrics exported: {fkapi:?}");
    let unshown: Vec<&&String> = fkapi.iter().filter(|name| !referenced.contains(**name)).collect();
    assert!(unshown.is_empty(), "exported but shown on no dashboard panel: {unshown:?}");
}
