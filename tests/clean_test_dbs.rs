//! `make clean-test-dbs`: drops the databases that killed test runs left on
//! the tests' PostgreSQL server (the one `fkapi_tests::postgres_server`
//! picks, so it is always the server the tests used).
#![allow(clippy::print_stdout)]

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dropped = fkapi_tests::drop_all_test_databases().await;
    println!("dropped {} test database(s){}", dropped.len(), if dropped.is_empty() { "" } else { ":" });
    for name in dropped {
        println!("  {name}");
    }
}
