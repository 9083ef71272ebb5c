//! All settings, read once from the environment (a `.env` file is honoured).

use fkapi_cache::{CacheConfig, TtlConfig};
use fkapi_feed::FeedConfig;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}={value:?}: {reason}")]
pub struct ConfigError {
    name: &'static str,
    value: String,
    reason: String,
}

/// A secret that never prints.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub database_url: Secret,
    /// `None` when REDIS_URL is empty: the cache is bypassed.
    pub redis_url: Option<Secret>,
    pub bind: String,
    pub admin_key: Option<Secret>,
    pub db_pool_size: usize,
    pub db_timeout: Duration,
    pub workers: usize,
    pub log_json: bool,
    /// Seconds between background samples of the entries gauge (0 = never).
    pub entries_sample_secs: u64,
    /// FKAPI_WARM_SCHEDULE: when `fkapi serve` warms the cache (cron).
    pub warm_schedule: Option<croner::Cron>,
    /// Where `fkapi cache-stats` finds a running server.
    pub server_url: String,
    pub cache: CacheConfig,
    /// The change feed (FKAPI_FEED_*): polling, consumer lease, batch, retention.
    pub feed: FeedConfig,
    /// FKAPI_RATE_LIMIT: requests per client and period; `None` = off.
    pub rate_limit: Option<crate::rate_limit::Rate>,
    /// FKAPI_RATE_LIMIT_WHITELIST: addresses never limited.
    pub rate_limit_whitelist: Vec<ipnet::IpNet>,
    /// FKAPI_TRUSTED_PROXIES: peers whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Parses a setting with `parser`, the default when unset or empty.
fn parse_with<T>(
    name: &'static str,
    default: &str,
    parser: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    let value = var(name).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string());
    parser(&value).map_err(|reason| ConfigError { name, value, reason })
}

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string())
}

fn parse<T: FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) => v.parse().map_err(|e: T::Err| ConfigError { name, value: v, reason: e.to_string() }),
    }
}

fn flag(name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match var(name).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Ok(default),
        Some("1" | "true" | "on" | "yes") => Ok(true),
        Some("0" | "false" | "off" | "no") => Ok(false),
        Some(other) => Err(ConfigError { name, value: other.to_string(), reason: "expected on/off".into() }),
    }
}

fn secs(name: &'static str, default: u64) -> Result<Duration, ConfigError> {
    parse(name, default).map(Duration::from_secs)
}

fn millis(name: &'static str, default: u64) -> Result<Duration, ConfigError> {
    parse(name, default).map(Duration::from_millis)
}

/// FKAPI_L1_MAX_MB: megabytes of in-process cache (0 = off), as bytes.
fn parse_l1_megabytes(value: &str) -> Result<u64, String> {
    let megabytes: u64 =
        value.parse().map_err(|_| "expected a whole number of megabytes (0 turns L1 off)".to_string())?;
    if megabytes > 1024 * 1024 {
        return Err("at most 1048576 (1 TiB)".into());
    }
    Ok(megabytes * 1024 * 1024)
}

/// FKAPI_L1_LEASE_MS: the L1 lease term. Short enough that a write waits
/// little for a frozen instance, long enough to be renewed (every term/4).
fn parse_lease_ms(value: &str) -> Result<Duration, String> {
    let ms: u64 = value.parse().map_err(|_| "expected milliseconds".to_string())?;
    if !(200..=10_000).contains(&ms) {
        return Err("must be between 200 and 10000 ms".into());
    }
    Ok(Duration::from_millis(ms))
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/fkapi";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

impl Settings {
    pub fn from_env() -> Result<Settings, ConfigError> {
        let redis_url = match var("REDIS_URL") {
            None => Some(DEFAULT_REDIS_URL.to_string()),
            Some(url) if url.is_empty() => None,
            Some(url) => Some(url),
        };
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        let defaults = CacheConfig::default();
        let cache = CacheConfig {
            namespace: parse("FKAPI_CACHE_NAMESPACE", defaults.namespace.clone())?,
            enabled: flag("FKAPI_CACHE", true)?,
            op_timeout: millis("FKAPI_REDIS_TIMEOUT_MS", 250)?,
            redis_mode: parse_with("FKAPI_REDIS_MODE", "auto", |v| v.parse())?,
            replica_wait: millis("FKAPI_REDIS_WAIT_MS", 100)?,
            failover_wait: millis("FKAPI_REDIS_FAILOVER_WAIT_MS", 5000)?,
            failover_epoch: flag("FKAPI_REDIS_FAILOVER_EPOCH", true)?,
            pool_size: parse("FKAPI_REDIS_POOL_SIZE", 16)?,
            breaker_threshold: parse("FKAPI_REDIS_BREAKER_THRESHOLD", 3)?,
            breaker_cooldown: millis("FKAPI_REDIS_BREAKER_COOLDOWN_MS", 2000)?,
            compress_min_bytes: parse("FKAPI_CACHE_COMPRESS_MIN_BYTES", 1024)?,
            xfetch_beta: parse("FKAPI_CACHE_XFETCH_BETA", 1.0)?,
            stale_grace: secs("FKAPI_CACHE_STALE_GRACE_SECS", 60)?,
            generation_ttl: defaults.generation_ttl,
            l1_max_bytes: parse_with("FKAPI_L1_MAX_MB", "64", parse_l1_megabytes)?,
            lease_term: parse_with("FKAPI_L1_LEASE_MS", "2000", parse_lease_ms)?,
            ttl: TtlConfig {
                short: secs("FKAPI_CACHE_TTL_SHORT", 300)?,
                medium: secs("FKAPI_CACHE_TTL_MEDIUM", 1800)?,
                long: secs("FKAPI_CACHE_TTL_LONG", 3600)?,
                very_long: secs("FKAPI_CACHE_TTL_VERY_LONG", 86400)?,
                jitter: parse("FKAPI_CACHE_TTL_JITTER", 0.1)?,
            },
        };
        if cache.ttl.very_long + cache.stale_grace >= cache.generation_ttl {
            return Err(ConfigError {
                name: "FKAPI_CACHE_TTL_VERY_LONG",
                value: cache.ttl.very_long.as_secs().to_string(),
                reason: "must stay below 3 days (generation counters live that long)".into(),
            });
        }
        if let Some(url) = &redis_url {
            // Checked here so a bad list stops the server naming the setting.
            fkapi_cache::check_redis_urls(url, cache.redis_mode).map_err(|reason| ConfigError {
                name: "REDIS_URL",
                value: "<redacted>".into(),
                reason,
            })?;
        }
        let feed = FeedConfig {
            poll: millis("FKAPI_FEED_POLL_MS", 500)?,
            lease: millis("FKAPI_FEED_LEASE_MS", 2000)?,
            batch: parse("FKAPI_FEED_BATCH", 1000)?,
            retention: secs("FKAPI_FEED_RETENTION_SECS", 3 * 86400)?,
            prune_every: Some(secs("FKAPI_FEED_PRUNE_SECS", 300)?).filter(|every| !every.is_zero()),
            keep: cache.generation_ttl,
        };
        check_feed(&feed)?;
        Ok(Settings {
            database_url: Secret(parse("DATABASE_URL", DEFAULT_DATABASE_URL.to_string())?),
            redis_url: redis_url.map(Secret),
            bind: parse("FKAPI_BIND", "127.0.0.1:8080".to_string())?,
            admin_key: var("FKAPI_ADMIN_KEY").filter(|k| !k.is_empty()).map(Secret),
            db_pool_size: parse("FKAPI_DB_POOL_SIZE", 16)?,
            db_timeout: millis("FKAPI_DB_TIMEOUT_MS", 5000)?,
            workers: parse("FKAPI_WORKERS", cpus)?,
            log_json: flag("FKAPI_LOG_JSON", false)?,
            entries_sample_secs: parse("FKAPI_ENTRIES_SAMPLE_SECS", 60)?,
            warm_schedule: match var("FKAPI_WARM_SCHEDULE").filter(|v| !v.is_empty()) {
                None => None,
                Some(expression) => Some(crate::schedule::parse(&expression).map_err(|reason| ConfigError {
                    name: "FKAPI_WARM_SCHEDULE",
                    value: expression.clone(),
                    reason,
                })?),
            },
            server_url: parse("FKAPI_URL", format!("http://{}", parse("FKAPI_BIND", "127.0.0.1:8080".to_string())?))?,
            cache,
            feed,
            rate_limit: parse_with("FKAPI_RATE_LIMIT", "100/hour", crate::rate_limit::Rate::parse)?,
            rate_limit_whitelist: parse_with("FKAPI_RATE_LIMIT_WHITELIST", "", crate::rate_limit::parse_nets)?,
            trusted_proxies: parse_with("FKAPI_TRUSTED_PROXIES", "", crate::rate_limit::parse_nets)?,
        })
    }
}

/// Refuses feed settings that cannot work.
fn check_feed(feed: &FeedConfig) -> Result<(), ConfigError> {
    let millis = |d: Duration| d.as_millis().to_string();
    if feed.poll < Duration::from_millis(10) || feed.poll > Duration::from_secs(60) {
        return Err(ConfigError {
            name: "FKAPI_FEED_POLL_MS",
            value: millis(feed.poll),
            reason: "must be between 10 and 60000".into(),
        });
    }
    // A consumer renews its lease once per poll; it must outlast a few.
    if feed.lease < feed.poll * 3 {
        return Err(ConfigError {
            name: "FKAPI_FEED_LEASE_MS",
            value: millis(feed.lease),
            reason: format!("must be at least 3 × FKAPI_FEED_POLL_MS ({} ms)", feed.poll.as_millis() * 3),
        });
    }
    if feed.batch == 0 || feed.batch > 100_000 {
        return Err(ConfigError {
            name: "FKAPI_FEED_BATCH",
            value: feed.batch.to_string(),
            reason: "must be between 1 and 100000".into(),
        });
    }
    if feed.retention < Duration::from_secs(60) {
        return Err(ConfigError {
            name: "FKAPI_FEED_RETENTION_SECS",
            value: feed.retention.as_secs().to_string(),
            reason: "must be at least 60".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod feed_setting_tests {
    use super::*;

    #[test]
    fn feed_settings_that_cannot_work_are_refused_by_name() {
        let fine = FeedConfig::default();
        assert!(check_feed(&fine).is_ok());
        let cases = [
            (FeedConfig { poll: Duration::ZERO, ..fine.clone() }, "FKAPI_FEED_POLL_MS"),
            (FeedConfig { lease: Duration::from_millis(1000), ..fine.clone() }, "FKAPI_FEED_LEASE_MS"),
            (FeedConfig { batch: 0, ..fine.clone() }, "FKAPI_FEED_BATCH"),
            (FeedConfig { retention: Duration::from_secs(5), ..fine }, "FKAPI_FEED_RETENTION_SECS"),
        ];
        for (config, name) in cases {
            let message = check_feed(&config).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains(name), "{name}: {message:?}");
        }
    }
}
