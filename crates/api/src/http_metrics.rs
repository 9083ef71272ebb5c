//! Request counts, latencies and database statements per route pattern
//! (never per raw path, so ids in URLs cannot blow up the label set), and
//! the per-endpoint summary FKApi serves at `GET /api/metrics`, read from
//! the same counters.
//!
//! A request must not pay for label hashing: each worker resolves a
//! route's handles once ([`RouteTable`]), keyed by the route's resource
//! name as actix hands it out (a `&str` inside the worker's resource map,
//! found without allocating), and keeps a small fixed table of status
//! codes per method, so recording is a few atomic adds.

use actix_web::http::{Method, StatusCode};
use actix_web::HttpRequest;
use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};
use serde::Serialize;
use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;
use utoipa::ToSchema;

/// The route label of requests no route matched (the 404 fallback).
pub const UNMATCHED: &str = "unmatched";

/// The route label of requests the rate limiter refused (some of them are
/// refused before routing, so they are counted apart from every route).
pub const RATE_LIMITED: &str = "rate_limited";

/// Put in the extensions of a response to count it under this route label
/// instead of the route that matched (or did not match) its request.
pub struct RoutePattern(pub std::sync::Arc<str>);

/// Status codes with a handle resolved on first use; others take the slow
/// path (a labelled lookup per request), which only odd codes need.
const COMMON_STATUSES: [u16; 26] = [
    200, 201, 204, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 406, 409, 411, 413, 414, 415, 422, 429, 431, 500,
    502, 503, 504,
];

/// The three metric families (shared by every worker).
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    queries: IntCounterVec,
}

impl HttpMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new("fkapi_http_requests_total", "HTTP requests"),
            &["method", "route", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new("fkapi_http_request_duration_seconds", "HTTP request latency").buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["method", "route"],
        )?;
        let queries = IntCounterVec::new(
            Opts::new(
                "fkapi_http_db_queries_total",
                "Statements sent to PostgreSQL on behalf of HTTP requests (the cache loads they led included)",
            ),
            &["method", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(queries.clone()))?;
        Ok(HttpMetrics { requests, duration, queries })
    }

    /// A fresh per-worker table of resolved handles.
    pub fn routes(&self) -> RouteTable {
        RouteTable { metrics: self.clone(), by_name: RefCell::default(), by_pattern: RefCell::default() }
    }

    fn route(&self, label: String) -> Rc<RouteMetrics> {
        Rc::new(RouteMetrics { metrics: self.clone(), label, methods: RefCell::default() })
    }

    /// Per endpoint (`"GET /api/kits"`), what this instance served since it
    /// started: FKApi's `GET /api/metrics` view of these counters.
    pub fn usage(&self) -> BTreeMap<String, EndpointUsage> {
        let mut usage: BTreeMap<String, EndpointUsage> = BTreeMap::new();
        let endpoint = |labels: &[prometheus::proto::LabelPair]| {
            let label = |name: &str| labels.iter().find(|l| l.name() == name).map_or("", |l| l.value());
            (format!("{} {}", label("method"), label("route")), label("status").to_string())
        };
        for family in self.requests.collect() {
            for metric in family.get_metric() {
                let (name, status) = endpoint(metric.get_label());
                let count = metric.get_counter().get_value() as u64;
                let entry = usage.entry(name).or_default();
                entry.count += count;
                *entry.status_codes.entry(status).or_default() += count;
            }
        }
        for family in self.duration.collect() {
            for metric in family.get_metric() {
                let (name, _) = endpoint(metric.get_label());
                let histogram = metric.get_histogram();
                if let Some(entry) = usage.get_mut(&name) {
                    let count = histogram.get_sample_count().max(1) as f64;
                    entry.avg_duration = round(histogram.get_sample_sum() / count, 6);
                }
            }
        }
        for family in self.queries.collect() {
            for metric in family.get_metric() {
                let (name, _) = endpoint(metric.get_label());
                if let Some(entry) = usage.get_mut(&name) {
                    let statements = metric.get_counter().get_value();
                    entry.avg_queries = round(statements / entry.count.max(1) as f64, 2);
                }
            }
        }
        usage
    }
}

fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

/// One endpoint in `GET /api/metrics` (FKApi's shape).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct EndpointUsage {
    /// Requests answered.
    #[schema(example = 150)]
    pub count: u64,
    /// Mean time to answer, in seconds (rounded to the microsecond; FKApi
    /// rounds to the millisecond, which would show every cache hit as 0).
    #[schema(example = 0.000412)]
    pub avg_duration: f64,
    /// Mean number of statements sent to PostgreSQL per request, counted
    /// (a request answered from the cache sends none).
    #[schema(example = 0.2)]
    pub avg_queries: f64,
    /// Requests per response status.
    #[schema(example = json!({"200": 148, "404": 2}))]
    pub status_codes: BTreeMap<String, u64>,
}

/// A worker's resolved handles, one entry per route.
pub struct RouteTable {
    metrics: HttpMetrics,
    /// Keyed by the address and length of the route's name inside the
    /// worker's resource map: unique per resource even if two resources
    /// share a name, stable for the worker's life, found without hashing
    /// the name.
    by_name: RefCell<HashMap<(usize, usize), Rc<RouteMetrics>>>,
    /// Routes without a name (rare: services that register unnamed
    /// resources), and requests refused before routing, by pattern.
    by_pattern: RefCell<HashMap<String, Rc<RouteMetrics>>>,
}

impl RouteTable {
    /// The handles of the route `req` was answered by.
    pub fn of(&self, req: &HttpRequest) -> Rc<RouteMetrics> {
        if let Some(name) = req.match_name() {
            let key = (name.as_ptr() as usize, name.len());
            if let Some(route) = self.by_name.borrow().get(&key) {
                return Rc::clone(route);
            }
            let pattern = req.match_pattern().unwrap_or_else(|| UNMATCHED.to_string());
            let route = self.metrics.route(pattern);
            self.by_name.borrow_mut().insert(key, Rc::clone(&route));
            return route;
        }
        self.by_pattern(req.match_pattern().as_deref().unwrap_or(UNMATCHED))
    }

    /// The handles of a route known by its pattern.
    pub fn by_pattern(&self, pattern: &str) -> Rc<RouteMetrics> {
        if let Some(route) = self.by_pattern.borrow().get(pattern) {
            return Rc::clone(route);
        }
        let route = self.metrics.route(pattern.to_string());
        self.by_pattern.borrow_mut().insert(pattern.to_string(), Rc::clone(&route));
        route
    }
}

/// One route's handles, per method it was called with.
pub struct RouteMetrics {
    metrics: HttpMetrics,
    label: String,
    methods: RefCell<Vec<Rc<MethodMetrics>>>,
}

struct MethodMetrics {
    method: Method,
    duration: Histogram,
    queries: IntCounter,
    statuses: [OnceCell<IntCounter>; COMMON_STATUSES.len()],
}

impl RouteMetrics {
    /// The route label (its pattern, or [`UNMATCHED`]).
    pub fn label(&self) -> &str {
        &self.label
    }

    fn method(&self, method: &Method) -> Rc<MethodMetrics> {
        if let Some(found) = self.methods.borrow().iter().find(|m| m.method == *method) {
            return Rc::clone(found);
        }
        let labels = [method.as_str(), self.label.as_str()];
        let resolved = Rc::new(MethodMetrics {
            method: method.clone(),
            duration: self.metrics.duration.with_label_values(&labels),
            queries: self.metrics.queries.with_label_values(&labels),
            statuses: std::array::from_fn(|_| OnceCell::new()),
        });
        self.methods.borrow_mut().push(Rc::clone(&resolved));
        resolved
    }

    /// Counts one answered request.
    pub fn record(&self, method: &Method, status: StatusCode, elapsed: Duration, queries: u32) {
        let handles = self.method(method);
        handles.duration.observe(elapsed.as_secs_f64());
        if queries > 0 {
            handles.queries.inc_by(u64::from(queries));
        }
        let labels = || [method.as_str(), self.label.as_str(), status.as_str()];
        match COMMON_STATUSES.binary_search(&status.as_u16()) {
            Ok(slot) => handles.statuses[slot].get_or_init(|| self.metrics.requests.with_label_values(&labels())).inc(),
            Err(_) => self.metrics.requests.with_label_values(&labels()).inc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_statuses_are_sorted_for_the_binary_search() {
        assert!(COMMON_STATUSES.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn usage_is_read_from_the_prometheus_counters() {
        let registry = Registry::new();
        let metrics = HttpMetrics::register(&registry).unwrap_or_else(|e| panic!("{e}"));
        let routes = metrics.routes();
        let kits = routes.by_pattern("/api/kits");
        kits.record(&Method::GET, StatusCode::OK, Duration::from_millis(2), 3);
        kits.record(&Method::GET, StatusCode::OK, Duration::from_millis(4), 0);
        kits.record(&Method::GET, StatusCode::from_u16(418).unwrap_or(StatusCode::OK), Duration::ZERO, 0);
        kits.record(&Method::POST, StatusCode::CREATED, Duration::from_millis(1), 2);
        let usage = metrics.usage();
        let get = &usage["GET /api/kits"];
        assert_eq!(get.count, 3);
        assert_eq!(get.avg_queries, 1.0);
        assert_eq!(get.avg_duration, 0.002);
        assert_eq!(get.status_codes, BTreeMap::from([("200".to_string(), 2), ("418".to_string(), 1)]));
        assert_eq!(usage["POST /api/kits"].avg_queries, 2.0);
        let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather()).unwrap_or_default();
        assert!(text.contains(r#"fkapi_http_requests_total{method="GET",route="/api/kits",status="200"} 2"#), "{text}");
    }
}
