//! Where a consumer is: a PostgreSQL snapshot (`xmin:xmax:xip,…`) whose
//! visible records are all applied, and possibly a batch under way.

use serde::{Deserialize, Serialize};

/// Saved as JSON in the namespace's position record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Every record whose transaction is visible in this snapshot is applied.
    pub applied: String,
    /// A batch too large for one step, applied in (xid, id) order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<Batch>,
}

/// The records visible in `target` but not in `applied`, applied up to and
/// including (`after_xid`, `after_id`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub target: String,
    pub after_xid: i64,
    pub after_id: i64,
}

impl Position {
    /// Nothing pending as of `snapshot`.
    pub fn at(snapshot: String) -> Position {
        Position { applied: snapshot, batch: None }
    }

    /// Parses a stored position; `Err` says why it is unusable.
    pub fn parse(text: &str) -> Result<Position, String> {
        let position: Position = serde_json::from_str(text).map_err(|e| format!("not a position: {e}"))?;
        snapshot_xmin(&position.applied)?;
        if let Some(batch) = &position.batch {
            snapshot_xmin(&batch.target)?;
        }
        Ok(position)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The xmin of the applied snapshot: every transaction below it is
    /// applied (what pruning may drop for this consumer).
    pub fn applied_xmin(&self) -> u64 {
        snapshot_xmin(&self.applied).unwrap_or(0)
    }
}

/// The xmin of a snapshot in PostgreSQL's text form, checking its shape so
/// that no garbage reaches a query.
fn snapshot_xmin(snapshot: &str) -> Result<u64, String> {
    let bad = || format!("not a snapshot: {:?}", snapshot.chars().take(60).collect::<String>());
    let mut parts = snapshot.splitn(3, ':');
    let xmin: u64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let xmax: u64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let xip = parts.next().ok_or_else(bad)?;
    if xmin > xmax || !xip.split(',').filter(|x| !x.is_empty()).all(|x| x.parse::<u64>().is_ok()) {
        return Err(bad());
    }
    Ok(xmin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_xmin() {
        let position = Position {
            applied: "100:105:101,103".into(),
            batch: Some(Batch { target: "104:110:".into(), after_xid: 103, after_id: 7 }),
        };
        let parsed = Position::parse(&position.to_json());
        assert_eq!(parsed.as_ref().ok(), Some(&position));
        assert_eq!(position.applied_xmin(), 100);
        assert_eq!(Position::parse(&Position::at("5:5:".into()).to_json()).map(|p| p.batch), Ok(None));
    }

    #[test]
    fn garbage_is_refused() {
        for text in [
            "",
            "{}",
            r#"{"applied":"x:1:"}"#,
            r#"{"applied":"9:1:"}"#,
            r#"{"applied":"1:2:3;DROP"}"#,
            r#"{"applied":"1:2"}"#,
            r#"{"applied":"1:2:","batch":{"target":"?","after_xid":0,"after_id":0}}"#,
        ] {
            assert!(Position::parse(text).is_err(), "{text}");
        }
    }
}
