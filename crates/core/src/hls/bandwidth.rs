//! BANDWIDTH and AVERAGE-BANDWIDTH of a variant from its segments' sizes and
//! durations (RFC 8216 4.3.4.2). `package` writes them with these functions
//! and `verify` recomputes them with the same ones, so the two cannot drift.

/// The playlist's EXT-X-TARGETDURATION for segments of these durations: the
/// longest, rounded to the nearest second (RFC 8216 4.3.3.1), at least 1.
pub fn target_duration(durations: impl IntoIterator<Item = f64>) -> u64 {
    durations
        .into_iter()
        .map(|d| d.round() as u64)
        .max()
        .unwrap_or(1)
        .max(1)
}

/// The average segment bit rate: every byte over every second, rounded up.
pub fn average_bandwidth(segs: &[(f64, u64)]) -> u64 {
    let (dur, bytes) = segs.iter().fold((0.0f64, 0.0f64), |(d, b), &(sd, sb)| {
        (d + sd, b + sb as f64)
    });
    if dur > 0.0 {
        (bytes * 8.0 / dur).ceil() as u64
    } else {
        0
    }
}

/// RFC 8216 4.3.4.2: the peak segment bit rate is the largest bit rate of any
/// contiguous run of segments lasting 0.5 to 1.5 times `target`, the
/// playlist's EXT-X-TARGETDURATION. Each segment counts on its own as well,
/// whatever its length: a segment longer than 1.5 targets (a long GOP)
/// fits in no run, yet a player must still fetch it at its own rate. Never
/// below the average, which is what a title too short for any run gets.
pub fn peak_bandwidth(segs: &[(f64, u64)], target: u64) -> u64 {
    let target = target as f64;
    let mut peak = 0.0f64;
    for i in 0..segs.len() {
        let (mut dur, mut bytes) = (0.0f64, 0.0f64);
        for (n, &(d, b)) in segs[i..].iter().enumerate() {
            dur += d;
            bytes += b as f64;
            if n > 0 && dur > 1.5 * target {
                break;
            }
            if dur > 0.0 && (dur >= 0.5 * target || n == 0 && d > 1.5 * target) {
                peak = peak.max(bytes * 8.0 / dur);
            }
        }
    }
    (peak.ceil() as u64).max(average_bandwidth(segs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_over_runs_of_half_to_one_and_a_half_targets() {
        let segs = [
            (6.0, 6_000_000 / 8),
            (6.0, 12_000_000 / 8),
            (1.0, 8_000_000 / 8),
        ];
        // The 1 s segment alone is too short to count; with its neighbour it is 7 s.
        assert_eq!(peak_bandwidth(&segs, 6), 2_857_143);
    }

    #[test]
    fn bandwidth_counts_a_long_gop_segment_at_its_peak() {
        // Keyframes every 10 s with --segment-duration 4: the target duration
        // is 10, so each segment is a run of its own, and the dense one sets
        // the peak, not the average.
        let segs = [(10.0, 1_000_000 / 8 * 10), (10.0, 5_000_000 / 8 * 10)];
        let target = target_duration(segs.iter().map(|s| s.0));
        assert_eq!(target, 10);
        assert_eq!(peak_bandwidth(&segs, target), 5_000_000);
        assert_eq!(average_bandwidth(&segs), 3_000_000);
        // A segment longer than 1.5 targets still counts alone.
        assert_eq!(peak_bandwidth(&[(2.0, 100), (20.0, 1_000_000)], 4), 400_000);
    }

    #[test]
    fn a_title_shorter_than_half_a_target_gets_its_average() {
        assert_eq!(peak_bandwidth(&[(0.4, 1000)], 1), 20_000);
        assert_eq!(peak_bandwidth(&[], 6), 0);
    }
}
