//! Simulates traces of the A/B code, for bench/sessions: how many read
//! segments name one leaker among N sessions, and whether two colluders who
//! alternate segments are both named, given per-segment read and error rates
//! (measured by `watermark trace` on real leaks; see bench/sessions).
//!
//! Usage: simulate leaker N SEGMENTS READ_RATE ERROR_RATE TRIALS
//!        simulate colluders N SEGMENTS READ_RATE ERROR_RATE TRIALS
//!        simulate speed N SEGMENTS
//! Every run prints its seed; the code key is drawn from it.

use std::time::Instant;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use shieldpack_session::code::generated_id;
use shieldpack_session::score::{rank, Observation};
use shieldpack_session::{CodeKey, Variant};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: &str| a.get(i).cloned().unwrap_or_else(|| d.to_string());
    let mode = arg(1, "leaker");
    let n: usize = arg(2, "1000000").parse().unwrap();
    let m: u64 = arg(3, "64").parse().unwrap();
    let read: f64 = arg(4, "1.0").parse().unwrap();
    let err: f64 = arg(5, "0.0").parse().unwrap();
    let trials: u64 = arg(6, "5").parse().unwrap();
    let seed: u64 = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    println!("seed {seed} mode {mode} sessions {n} segments {m} read {read} error {err}");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let ids = |j: usize| generated_id(j as u64);
    for trial in 0..trials.max(1) {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let key = CodeKey::from_wm_secret(&secret);
        let who: Vec<usize> = match mode.as_str() {
            "colluders" => vec![
                (rng.next_u64() % n as u64) as usize,
                (rng.next_u64() % n as u64) as usize,
            ],
            _ => vec![(rng.next_u64() % n as u64) as usize],
        };
        let mut obs = Vec::new();
        for i in 0..m {
            if (rng.next_u64() as f64 / 2f64.powi(64)) >= read {
                continue;
            }
            let src = &ids(who[i as usize % who.len()]);
            let mut v = key.variant(src, i);
            if (rng.next_u64() as f64 / 2f64.powi(64)) < err {
                v = if v == Variant::A {
                    Variant::B
                } else {
                    Variant::A
                };
            }
            obs.push(Observation {
                segment: i,
                variant: v,
                weight: 1.0,
            });
        }
        let t = Instant::now();
        let r = rank(&key, &obs, n, &ids, 5);
        let secs = t.elapsed().as_secs_f64();
        let named: Vec<String> = r
            .iter()
            .filter(|s| s.log10_p <= -3.0)
            .map(|s| s.session.clone())
            .collect();
        let guilty: Vec<String> = who.iter().map(|&j| ids(j)).collect();
        let innocent_named = named.iter().filter(|s| !guilty.contains(s)).count();
        let p_of = |g: &String| {
            r.iter()
                .find(|s| &s.session == g)
                .map(|s| s.log10_p)
                .unwrap_or(0.0)
        };
        println!(
            "trial {trial}: read {} segments; guilty log10 p {:?}; named {} (innocent {innocent_named}); scoring {secs:.2}s",
            obs.len(),
            guilty.iter().map(|g| (p_of(g) * 10.0).round() / 10.0).collect::<Vec<_>>(),
            named.len()
        );
    }
}
