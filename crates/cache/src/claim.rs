//! Cross-instance claims: "exactly one instance does this job now" (the
//! warm-cache schedule), through SET NX with an expiry.

use crate::client::Cache;
use std::time::Duration;

impl Cache {
    /// Claims `name` for `ttl` across every instance sharing this Redis
    /// (SET NX): true for exactly one claimant.
    pub async fn try_claim(&self, name: &str, ttl: Duration) -> bool {
        let key = self.namespace().aux_key(name);
        let seconds = ttl.as_secs().max(1);
        self.redis("claim", |mut conn| async move {
            redis::cmd("SET")
                .arg(&key)
                .arg("1")
                .arg("NX")
                .arg("EX")
                .arg(seconds)
                .query_async::<Option<String>>(&mut conn)
                .await
        })
        .await
        .flatten()
        .is_some()
    }
}
