//! Rebuild when a migration is added, changed or removed: the migrations are
//! embedded at compile time, and a proc macro cannot watch a directory.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
