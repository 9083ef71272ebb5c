//! Rate limiting (FKApi limits each client to 100 requests an hour).
//!
//! One GCRA bucket per client in Redis ([`fkapi_cache::Cache::rate_limit`],
//! one atomic script, Redis' clock), so every instance sharing the Redis
//! enforces one limit. The client is the user for a request with a valid
//! bearer token (`user:<id>`), otherwise its IP address (`ip:<addr>`), where
//! `X-Forwarded-For` is believed only from a trusted proxy.
//!
//! Not limited: requests from whitelisted addresses, requests carrying the
//! valid admin key (operators and the warm-cache and cache-stats tools),
//! and `/metrics` and `/api/health` (scraped and probed by infrastructure).
//!
//! When Redis is off, down or slow the limiter fails open: requests are
//! served unlimited, and the log says so once per outage.

use crate::http_metrics::{RoutePattern, RATE_LIMITED};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpResponse, ResponseError};
use fkapi_cache::RateDecision;
use fkapi_users::TokenCache;
use fkapi_web::{AdminKey, ApiError, AppContext};
use futures::future::{Either, FutureExt, LocalBoxFuture};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `N` requests per `period` (FKAPI_RATE_LIMIT, e.g. `100/hour`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub limit: u32,
    pub period: Duration,
}

impl Rate {
    /// `"N/second|minute|hour|day"` (also `s`, `m`, `h`, `d`); `"0"` or
    /// `"off"` is `None` (no limit).
    pub fn parse(text: &str) -> Result<Option<Rate>, String> {
        let text = text.trim();
        if matches!(text.to_ascii_lowercase().as_str(), "0" | "off") {
            return Ok(None);
        }
        let expected = || "expected N/second, N/minute, N/hour or N/day (or 0 to switch it off)".to_string();
        let (count, unit) = text.split_once('/').ok_or_else(expected)?;
        let limit: u32 = count.trim().parse().map_err(|_| expected())?;
        let period = match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            _ => return Err(expected()),
        };
        if limit == 0 {
            return Ok(None);
        }
        Ok(Some(Rate { limit, period }))
    }

    fn describe(self) -> String {
        let unit = match self.period.as_secs() {
            1 => "second",
            60 => "minute",
            3600 => "hour",
            _ => "day",
        };
        format!("{}/{unit}", self.limit)
    }
}

/// A list of IP addresses and CIDR blocks (`10.0.0.0/8, 192.168.1.7, ::1`),
/// separated by commas or spaces.
pub fn parse_nets(text: &str) -> Result<Vec<IpNet>, String> {
    text.split([',', ' ', '\t', '\n'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            IpNet::from_str(item).or_else(|_| IpAddr::from_str(item).map(IpNet::from)).map(|net| net.trunc()).map_err(
                |_| {
                    format!("{:?} is neither an IP address nor a CIDR block", item.chars().take(60).collect::<String>())
                },
            )
        })
        .collect()
}

/// The limiter's settings and its per-instance state.
pub struct Limiter {
    rate: Option<Rate>,
    whitelist: Vec<IpNet>,
    trusted_proxies: Vec<IpNet>,
    /// Token hash → user, so telling users from anonymous clients costs no
    /// query per request. Shared with the token-rotation route (app data),
    /// which evicts the old token.
    pub tokens: Arc<TokenCache>,
    /// True while Redis is unreachable (logged once per outage).
    failing_open: AtomicBool,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("rate", &self.rate)
            .field("whitelist", &self.whitelist)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    nets.iter().any(|net| net.contains(&ip))
}

impl Limiter {
    pub fn new(rate: Option<Rate>, whitelist: Vec<IpNet>, trusted_proxies: Vec<IpNet>) -> Limiter {
        Limiter {
            rate,
            whitelist,
            trusted_proxies,
            tokens: Arc::new(TokenCache::default()),
            failing_open: AtomicBool::new(false),
        }
    }

    pub fn rate(&self) -> Option<Rate> {
        self.rate
    }

    /// The client's address: the peer, unless the peer is a trusted proxy;
    /// then the right-most `X-Forwarded-For` hop that is not itself a
    /// trusted proxy (hops further left are written by the client and can
    /// be forged). A malformed hop ends the walk at the last good one.
    pub fn client_ip(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.ip().to_canonical();
        if !contains(&self.trusted_proxies, peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let parsed = IpAddr::from_str(hop).or_else(|_| SocketAddr::from_str(hop).map(|addr| addr.ip()));
            let Ok(ip) = parsed else { break };
            client = ip.to_canonical();
            if !contains(&self.trusted_proxies, client) {
                break;
            }
        }
        Some(client)
    }

    fn whitelisted(&self, ip: IpAddr) -> bool {
        contains(&self.whitelist, ip)
    }

    fn redis_unavailable(&self) {
        if !self.failing_open.swap(true, Ordering::Relaxed) {
            tracing::warn!("rate limiter cannot reach redis: requests are not rate limited until it returns");
        }
    }

    fn redis_available(&self) {
        if self.failing_open.swap(false, Ordering::Relaxed) {
            tracing::info!("rate limiter reaches redis again: rate limiting resumed");
        }
    }
}

/// Paths never limited: monitoring must see the server even when a client
/// behind the same address is throttled.
fn exempt(path: &str) -> bool {
    matches!(path, "/metrics" | "/api/health")
}

fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

fn set_headers(headers: &mut HeaderMap, decision: &RateDecision) {
    let pairs = [
        ("ratelimit-limit", u64::from(decision.limit)),
        ("ratelimit-remaining", u64::from(decision.remaining)),
        ("ratelimit-reset", whole_seconds(decision.reset)),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

/// Whose bucket a request counts against.
async fn bucket(limiter: &Limiter, db: &fkapi_db::PgPool, token: Option<&str>, ip: Option<IpAddr>) -> String {
    if let Some(token) = token {
        if let Some(user) = limiter.tokens.user_of(db, token).await {
            return format!("user:{user}");
        }
    }
    match ip {
        Some(ip) => format!("ip:{ip}"),
        None => "ip:unknown".to_string(),
    }
}

/// The bucket's verdict on one request; `None` when Redis could not be
/// asked (the request is then served unlimited).
async fn decide(
    limiter: &Limiter,
    ctx: &AppContext,
    token: Option<&str>,
    ip: Option<IpAddr>,
    rate: Rate,
) -> Option<RateDecision> {
    let key = bucket(limiter, &ctx.db, token, ip).await;
    let decision = ctx.cache.rate_limit(&key, rate.limit, rate.period).await;
    match decision {
        Some(_) => limiter.redis_available(),
        None => limiter.redis_unavailable(),
    }
    decision
}

/// The 429 a refused request gets, with the bucket's headers.
fn refusal(decision: &RateDecision, rate: Rate) -> (ApiError, HttpResponse) {
    let retry_after_secs = whole_seconds(decision.retry_after).max(1);
    let error = ApiError::TooManyRequests {
        detail: format!(
            "Request was throttled: the limit is {}. Expected available in {retry_after_secs} seconds.",
            rate.describe()
        ),
        retry_after_secs,
    };
    let mut response = error.error_response();
    set_headers(response.headers_mut(), decision);
    // Counted apart from the routes: a refused request may never have been routed.
    response.extensions_mut().insert(RoutePattern(Arc::from(RATE_LIMITED)));
    (error, response)
}

/// The middleware. It is wrapped only while limiting is on (see
/// `AppState::limiting`), and holds what it needs, so it cannot run
/// without its state.
///
/// Reads (GET, HEAD) ask the bucket and run the handler at once, so a
/// limited read costs one round trip of latency, not two: if the bucket
/// refuses first, the handler is dropped (a throttled client cannot make
/// the database work); if the handler finishes first, its response is
/// dropped. Other methods ask first, so a refused write never happens.
pub struct RateLimit {
    limiter: Arc<Limiter>,
    rate: Rate,
    ctx: web::Data<AppContext>,
}

impl RateLimit {
    pub fn new(limiter: Arc<Limiter>, ctx: web::Data<AppContext>) -> RateLimit {
        // Unused when limiting is off (the middleware is not wrapped then).
        let rate = limiter.rate().unwrap_or(Rate { limit: u32::MAX, period: Duration::from_secs(1) });
        RateLimit { limiter, rate, ctx }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RateLimit
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RateLimitService<S>;
    type InitError = ();
    type Future = std::future::Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        std::future::ready(Ok(RateLimitService {
            service: Rc::new(service),
            limiter: Arc::clone(&self.limiter),
            rate: self.rate,
            ctx: self.ctx.clone(),
        }))
    }
}

pub struct RateLimitService<S> {
    service: Rc<S>,
    limiter: Arc<Limiter>,
    rate: Rate,
    ctx: web::Data<AppContext>,
}

impl<S, B> Service<ServiceRequest> for RateLimitService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let ip = self.limiter.client_ip(req.peer_addr(), req.headers());
        let unlimited = exempt(req.path())
            || ip.is_some_and(|ip| self.limiter.whitelisted(ip))
            || (req.headers().contains_key("x-api-key")
                && AdminKey::extract(req.request()).now_or_never().is_some_and(|admin| admin.is_ok()));
        if unlimited {
            return Box::pin(async move { Ok(service.call(req).await?.map_into_left_body()) });
        }
        let (limiter, ctx, rate) = (Arc::clone(&self.limiter), self.ctx.clone(), self.rate);
        let token = fkapi_users::bearer_token(req.request()).ok().flatten().map(str::to_owned);
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return Box::pin(async move {
                let decision = decide(&limiter, &ctx, token.as_deref(), ip, rate).await;
                match decision {
                    Some(decision) if !decision.allowed => {
                        Ok(req.into_response(refusal(&decision, rate).1).map_into_right_body())
                    }
                    Some(decision) => {
                        let mut response = service.call(req).await?;
                        set_headers(response.headers_mut(), &decision);
                        Ok(response.map_into_left_body())
                    }
                    None => Ok(service.call(req).await?.map_into_left_body()),
                }
            });
        }
        Box::pin(async move {
            let verdict = std::pin::pin!(decide(&limiter, &ctx, token.as_deref(), ip, rate));
            let handler = std::pin::pin!(service.call(req));
            match futures::future::select(verdict, handler).await {
                Either::Left((Some(decision), _handler)) if !decision.allowed => {
                    let (error, response) = refusal(&decision, rate);
                    Err(InternalError::from_response(error, response).into())
                }
                Either::Left((decision, handler)) => {
                    let mut response = handler.await?;
                    if let Some(decision) = decision {
                        set_headers(response.headers_mut(), &decision);
                    }
                    Ok(response.map_into_left_body())
                }
                Either::Right((response, verdict)) => {
                    let mut response = response?;
                    match verdict.await {
                        Some(decision) if !decision.allowed => {
                            Ok(response.into_response(refusal(&decision, rate).1).map_into_right_body())
                        }
                        Some(decision) => {
                            set_headers(response.headers_mut(), &decision);
                            Ok(response.map_into_left_body())
                        }
                        None => Ok(response.map_into_left_body()),
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_like_fkapi_settings() {
        assert_eq!(Rate::parse("100/hour"), Ok(Some(Rate { limit: 100, period: Duration::from_secs(3600) })));
        assert_eq!(Rate::parse(" 5/Minute "), Ok(Some(Rate { limit: 5, period: Duration::from_secs(60) })));
        assert_eq!(Rate::parse("10/s"), Ok(Some(Rate { limit: 10, period: Duration::from_secs(1) })));
        assert_eq!(Rate::parse("0"), Ok(None));
        assert_eq!(Rate::parse("off"), Ok(None));
        for bad in ["", "100", "100/week", "-1/hour", "x/hour", "100/"] {
            assert!(Rate::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn nets_accept_addresses_and_blocks() {
        let nets = parse_nets("10.0.0.0/8, 192.168.1.7 ::1").unwrap_or_default();
        assert_eq!(nets.len(), 3);
        assert!(contains(&nets, "10.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(!contains(&nets, "192.168.1.8".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(parse_nets("").is_ok_and(|n| n.is_empty()));
        assert!(parse_nets("10.0.0.0/33").is_err() && parse_nets("example.com").is_err());
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.append(HeaderName::from_static("x-forwarded-for"), value);
            }
        }
        headers
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = parse_nets("10.0.0.0/8").unwrap_or_default();
        let limiter = Limiter::new(None, Vec::new(), proxies);
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        let peer = |s: &str| format!("{s}:4000").parse::<SocketAddr>().ok();
        // Untrusted peer: its own address, whatever it claims.
        assert_eq!(limiter.client_ip(peer("203.0.113.9"), &xff(&["1.1.1.1"])), ip("203.0.113.9"));
        // Trusted peer: the right-most untrusted hop; forged hops to its left are ignored.
        assert_eq!(limiter.client_ip(peer("10.0.0.2"), &xff(&["6.6.6.6, 198.51.100.4, 10.0.0.3"])), ip("198.51.100.4"));
        assert_eq!(limiter.client_ip(peer("10.0.0.2"), &xff(&["6.6.6.6", "198.51.100.4"])), ip("198.51.100.4"));
        // Trusted peer without the header, or with garbage: the last good hop.
        assert_eq!(limiter.client_ip(peer("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
        assert_eq!(limiter.client_ip(peer("10.0.0.2"), &xff(&["junk"])), ip("10.0.0.2"));
    }
}
