//! The build script of the `shieldpack` package (`build = "crates/cli/build.rs"`
//! in the root Cargo.toml). Stamps the build with a hash of the whole
//! workspace's sources (`SHIELDPACK_SOURCE_ID`), so
//! that the `shieldpack` front end and `shieldpack-media` can tell whether they
//! come from the same sources. `cargo run` relinks only the front end, and
//! without this it would hand media commands to a stale `shieldpack-media`.

use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    // A folder here means any file below it (cargo compares modification times).
    for p in ["crates", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={p}");
    }
    let mut all = vec![PathBuf::from("Cargo.toml"), PathBuf::from("Cargo.lock")];
    files(Path::new("crates"), &mut all);
    all.sort();
    // The same hasher with the same keys for both binaries of one build.
    let mut h = DefaultHasher::new();
    for p in &all {
        h.write(p.to_string_lossy().as_bytes());
        h.write(&std::fs::read(p).unwrap_or_default());
    }
    println!("cargo:rustc-env=SHIELDPACK_SOURCE_ID={:016x}", h.finish());
}
