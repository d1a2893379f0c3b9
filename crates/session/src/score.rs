//! Trace scoring: which sessions' codewords explain the variants read from a
//! leak, and how sure we are.
//!
//! Symmetric Tardos score (Skoric, Katzenbeisser, Celik 2008): for a segment
//! with bias p read as variant y with weight w (the reader's confidence, 0..1),
//! a session whose variant x equals y gains `w sqrt((1-p)/p)` when y = b and
//! `w sqrt(p/(1-p))` when y = a, and loses the same amount when x differs.
//! An innocent session's variants are independent of the leak, so every term
//! has mean zero and variance w^2, while a leaker's terms have positive mean.
//!
//! `log10_p` is a Chernoff bound on the chance that one innocent session scores
//! at least as high, `min over l>0 of exp(-l s) prod_i E[exp(l g_i)]`, the
//! expectation over the innocent's x_i ~ Bernoulli(p_i); it is a bound, not a
//! Gaussian approximation, so it holds for few segments and extreme biases. The
//! reported value is corrected for the number of sessions scored (union bound:
//! `+ log10 M`), so it is the chance that any innocent among them scores as high.

use crate::code::{CodeKey, Variant};

/// One segment's reading from the leak.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    pub segment: u64,
    pub variant: Variant,
    /// Confidence weight in (0, 1].
    pub weight: f64,
}

/// The verdict on one session.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub session: String,
    pub score: f64,
    /// log10 of the chance that an innocent scores as high, corrected for the
    /// number of sessions scored (at most 0).
    pub log10_p: f64,
}

/// Per observation: the bias threshold and the score terms for x = a and x = b.
struct Term {
    segment: u64,
    threshold: u32,
    p: f64,
    if_a: f64,
    if_b: f64,
}

fn terms(key: &CodeKey, obs: &[Observation]) -> Vec<Term> {
    obs.iter()
        .map(|o| {
            let threshold = key.threshold(o.segment);
            let p = threshold as f64 / 2f64.powi(32);
            let gb = ((1.0 - p) / p).sqrt();
            let ga = (p / (1.0 - p)).sqrt();
            let w = o.weight.clamp(0.0, 1.0);
            let (if_a, if_b) = match o.variant {
                Variant::B => (-w * ga, w * gb),
                Variant::A => (w * ga, -w * gb),
            };
            Term {
                segment: o.segment,
                threshold,
                p,
                if_a,
                if_b,
            }
        })
        .collect()
}

/// Scores sessions `ids(0..count)` against the observations, on every core.
/// Returns every session's score in order.
pub fn score_all(
    key: &CodeKey,
    obs: &[Observation],
    count: usize,
    ids: &(dyn Fn(usize) -> String + Sync),
) -> Vec<f64> {
    let terms = terms(key, obs);
    let mut scores = vec![0f64; count];
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(count.max(1));
    let chunk = count.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (c, out) in scores.chunks_mut(chunk).enumerate() {
            let terms = &terms;
            s.spawn(move || {
                for (k, slot) in out.iter_mut().enumerate() {
                    let mut code = key.session(&ids(c * chunk + k));
                    *slot = terms
                        .iter()
                        .map(|t| {
                            if code.variant_with(t.segment, t.threshold) == Variant::B {
                                t.if_b
                            } else {
                                t.if_a
                            }
                        })
                        .sum();
                }
            });
        }
    });
    scores
}

/// ln of the Chernoff bound on P(innocent score >= s).
fn ln_tail(terms: &[Term], s: f64) -> f64 {
    if s <= 0.0 {
        return 0.0;
    }
    let f = |l: f64| -> f64 {
        let mut v = -l * s;
        for t in terms {
            // log(p e^{l b} + (1-p) e^{l a}) computed without overflow
            let (x, y) = (l * t.if_b + t.p.ln(), l * t.if_a + (1.0 - t.p).ln());
            let m = x.max(y);
            v += m + ((x - m).exp() + (y - m).exp()).ln();
        }
        v
    };
    // convex in l: golden-section search on a bracket grown until f rises
    let mut hi = 1.0;
    while f(hi * 2.0) < f(hi) && hi < 1e6 {
        hi *= 2.0;
    }
    let (mut a, mut b) = (0.0, hi * 2.0);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..100 {
        let c = b - g * (b - a);
        let d = a + g * (b - a);
        if f(c) < f(d) {
            b = d;
        } else {
            a = c;
        }
    }
    f((a + b) / 2.0).min(0.0)
}

/// log10 of the chance that one innocent session scores at least `s`.
pub fn log10_p_single(key: &CodeKey, obs: &[Observation], s: f64) -> f64 {
    ln_tail(&terms(key, obs), s) / std::f64::consts::LN_10
}

/// Scores `count` sessions and returns the `top` highest with their corrected
/// log10 p, best first.
pub fn rank(
    key: &CodeKey,
    obs: &[Observation],
    count: usize,
    ids: &(dyn Fn(usize) -> String + Sync),
    top: usize,
) -> Vec<Scored> {
    let scores = score_all(key, obs, count, ids);
    let mut order: Vec<usize> = (0..count).collect();
    let top = top.min(count);
    if top == 0 {
        return Vec::new();
    }
    order.select_nth_unstable_by(top - 1, |&a, &b| scores[b].total_cmp(&scores[a]));
    order.truncate(top);
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let t = terms(key, obs);
    let correction = (count.max(1) as f64).log10();
    order
        .into_iter()
        .map(|j| Scored {
            session: ids(j),
            score: scores[j],
            log10_p: (ln_tail(&t, scores[j]) / std::f64::consts::LN_10 + correction).min(0.0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::generated_id;

    fn key() -> CodeKey {
        CodeKey::from_wm_secret(&[9u8; 32])
    }

    fn leak(k: &CodeKey, who: &[&str], segments: u64, flip_every: u64) -> Vec<Observation> {
        (0..segments)
            .map(|i| {
                let mut v = k.variant(who[(i as usize) % who.len()], i);
                if flip_every > 0 && i % flip_every == 0 {
                    v = if v == Variant::A {
                        Variant::B
                    } else {
                        Variant::A
                    };
                }
                Observation {
                    segment: i,
                    variant: v,
                    weight: 1.0,
                }
            })
            .collect()
    }

    #[test]
    fn one_leaker_among_ten_thousand_is_named_and_alone() {
        let k = key();
        let ids = |j: usize| generated_id(j as u64);
        let who = generated_id(4242);
        let obs = leak(&k, &[&who], 64, 0);
        let r = rank(&k, &obs, 10_000, &ids, 5);
        assert_eq!(r[0].session, who);
        assert!(r[0].log10_p < -6.0, "{r:?}");
        assert!(r[1].log10_p > -1.0, "{r:?}");
    }

    #[test]
    fn two_colluders_alternating_are_both_named() {
        let k = key();
        let ids = |j: usize| generated_id(j as u64);
        let (x, y) = (generated_id(17), generated_id(9001));
        let obs = leak(&k, &[&x, &y], 400, 0);
        let r = rank(&k, &obs, 10_000, &ids, 5);
        let mut named: Vec<_> = r
            .iter()
            .filter(|s| s.log10_p <= -3.0)
            .map(|s| s.session.clone())
            .collect();
        named.sort();
        assert_eq!(named, vec![x, y], "{r:?}");
    }

    #[test]
    fn random_reads_accuse_nobody() {
        let k = key();
        let ids = |j: usize| generated_id(j as u64);
        let other = CodeKey::from_wm_secret(&[1u8; 32]);
        // variants of a session under another key: unrelated to this code
        let obs = leak(&other, &["someone"], 200, 0);
        let r = rank(&k, &obs, 10_000, &ids, 3);
        assert!(r[0].log10_p > -3.0, "{r:?}");
    }

    #[test]
    fn chernoff_bound_is_not_below_the_simulated_tail() {
        // the bound must hold: simulate innocents and compare at a few levels
        let k = key();
        let obs = leak(&k, &["leaker"], 32, 0);
        let ids = |j: usize| generated_id(j as u64);
        let scores = score_all(&k, &obs, 20_000, &ids);
        let mut sorted = scores.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        for rank in [20usize, 200, 2000] {
            let s = sorted[rank];
            let empirical = (rank as f64 / 20_000.0).log10();
            let bound = log10_p_single(&k, &obs, s);
            assert!(
                bound >= empirical - 0.2,
                "at {s}: bound {bound} empirical {empirical}"
            );
        }
    }
}
