//! Property tests for every parser of untrusted bytes in shieldpack-core
//! (issue 24): playlists, manifest.json, policy.json (resolved), policy
//! files, rotation configs, keyrings, age recipients and identities.
//!
//! Each property runs a bounded number of cases from a fixed seed, so CI is
//! deterministic and short; `PROPTEST_CASES` raises the count for a longer
//! local hunt. Inputs that once crashed a parser live on as `regression_*`
//! tests beside the property that found them.

mod hls;
mod keyring;
mod manifest;
mod policy;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// The bounded, deterministic config every property here runs under.
pub fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed_0024),
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

/// Mutations of a valid text, the way a truncated download, a hand edit or
/// an attacker would make them.
#[derive(Debug, Clone)]
pub enum Mutation {
    FlipByte(usize, u8),
    Truncate(usize),
    DeleteLine(usize),
    DuplicateLine(usize),
    InsertLine(usize, String),
    ReplaceNumber(usize, String),
}

/// Values that break naive numeric parsing and arithmetic.
pub fn nasty_number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("-0".to_string()),
        Just("NaN".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("1e308".to_string()),
        Just("1e999".to_string()),
        Just("-1e999".to_string()),
        Just("18446744073709551615".to_string()),
        Just("18446744073709551616".to_string()),
        Just("4294967295".to_string()),
        Just("4294967296".to_string()),
        Just("9223372036854775807".to_string()),
        Just("-9223372036854775808".to_string()),
        Just("0.0000000000000000000001".to_string()),
        Just("1.7976931348623157e308".to_string()),
        Just("\"1\"".to_string()),
        Just("null".to_string()),
        Just("".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
    ]
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipByte(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), "[ -~]{0,40}").prop_map(|(i, l)| Mutation::InsertLine(i, l)),
        (any::<usize>(), nasty_number()).prop_map(|(i, n)| Mutation::ReplaceNumber(i, n)),
    ]
}

/// Applies mutations to bytes (the result need not be UTF-8).
pub fn mutate(valid: &[u8], ms: &[Mutation]) -> Vec<u8> {
    let mut b = valid.to_vec();
    for m in ms {
        match m {
            Mutation::FlipByte(i, x) => {
                if !b.is_empty() {
                    let i = i % b.len();
                    b[i] ^= x | 1;
                }
            }
            Mutation::Truncate(i) => {
                let n = i % (b.len() + 1);
                b.truncate(n);
            }
            Mutation::DeleteLine(i) | Mutation::DuplicateLine(i) | Mutation::InsertLine(i, _) => {
                let mut lines: Vec<Vec<u8>> =
                    b.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect();
                let i = i % lines.len();
                match m {
                    Mutation::DeleteLine(_) => {
                        lines.remove(i);
                    }
                    Mutation::DuplicateLine(_) => {
                        let l = lines[i].clone();
                        lines.insert(i, l);
                    }
                    Mutation::InsertLine(_, l) => lines.insert(i, l.as_bytes().to_vec()),
                    _ => unreachable!(),
                }
                b = lines.join(&b'\n');
            }
            Mutation::ReplaceNumber(i, n) => {
                // The i-th run of digits (with an optional sign, point and exponent).
                let runs = number_runs(&b);
                if !runs.is_empty() {
                    let (s, e) = runs[i % runs.len()];
                    b.splice(s..e, n.bytes());
                }
            }
        }
    }
    b
}

fn number_runs(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let mut s = i;
            if s > 0 && b[s - 1] == b'-' {
                s -= 1;
            }
            let mut e = i;
            while e < b.len() && (b[e].is_ascii_digit() || matches!(b[e], b'.' | b'e' | b'E')) {
                e += 1;
            }
            out.push((s, e));
            i = e;
        } else {
            i += 1;
        }
    }
    out
}

/// Mutated text as a `String` (lossy where a flip broke UTF-8), for parsers
/// that take `&str`.
pub fn mutate_str(valid: &str, ms: &[Mutation]) -> String {
    String::from_utf8_lossy(&mutate(valid.as_bytes(), ms)).into_owned()
}
