//! The multi-process harness itself: instances start on one database and
//! Redis namespace, can be frozen, thawed, killed and restarted, and leave
//! nothing behind when the fleet drops.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use fkapi_tests::fleet::Fleet;
use fkapi_tests::StatusCode;
use std::time::Duration;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn database_exists(name: &str) -> bool {
    let url = fkapi_tests::database_url("postgres");
    let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
    diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
        > 0
}

#[tokio::test]
async fn instances_share_the_cache_and_survive_freeze_kill_and_restart() {
    let mut fleet = Fleet::start(2).await;
    // One Redis namespace: what instance 0 loaded, instance 1 serves.
    assert_eq!(fleet.get_json(0, "/api/clubs/1").await.2, "MISS");
    let (status, body, cache) = fleet.get_json(1, "/api/clubs/1").await;
    assert_eq!((status, cache.as_str()), (StatusCode::OK, "HIT"), "{body}");
    assert_eq!(fleet.sql("UPDATE clubs SET name = 'Seen By The Fleet' WHERE id = 2").await, 1);

    // Frozen: accepts nothing until thawed.
    fleet.freeze(1);
    let frozen = fleet.client.get(fleet.url(1, "/api/health")).timeout(Duration::from_millis(700)).send().await;
    assert!(frozen.is_err(), "a frozen instance answered: {frozen:?}");
    fleet.thaw(1);
    assert_eq!(fleet.get_json(1, "/api/health").await.0, StatusCode::OK);

    // Killed: the port refuses; started again on the same port, it serves.
    let pid = fleet.instances[1].pid().unwrap();
    fleet.kill(1);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "SIGKILL'd process still there");
    assert!(fleet.client.get(fleet.url(1, "/api/health")).send().await.is_err());
    fleet.start_instance(1).await;
    assert_eq!(fleet.get_json(1, "/api/clubs/2").await.1["name"], "Seen By The Fleet");

    // A graceful restart gives a new process.
    let before = fleet.instances[0].pid().unwrap();
    fleet.restart(0).await;
    assert_ne!(fleet.instances[0].pid().unwrap(), before);
    assert!(fleet.log(0).contains("serving"), "{}", fleet.log(0));

    // Dropping the fleet kills every process and removes the database.
    let pids: Vec<u32> = fleet.instances.iter().filter_map(|i| i.pid()).collect();
    let db = fleet.db.name.clone();
    assert!(database_exists(&db).await);
    drop(fleet);
    for pid in pids {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "instance {pid} outlived the fleet");
    }
    assert!(!database_exists(&db).await, "database {db} outlived the fleet");
}

#[tokio::test]
async fn a_panicking_test_still_cleans_up() {
    let (pids, db) = {
        let fleet = Fleet::start(1).await;
        let pids: Vec<u32> = fleet.instances.iter().filter_map(|i| i.pid()).collect();
        let db = fleet.db.name.clone();
        let outcome = tokio::spawn(async move {
            let _fleet = fleet;
            panic!("deliberate panic with a fleet alive");
        })
        .await;
        assert!(outcome.is_err_and(|e| e.is_panic()));
        (pids, db)
    };
    for pid in pids {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "instance {pid} outlived a panic");
    }
    assert!(!database_exists(&db).await);
}
