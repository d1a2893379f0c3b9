//! Times and durations as users type them: `90`, `1.5`, `30s`, `5m`, `1h`,
//! `1h30m`, `HH:MM:SS[.mmm]`. Parsed into seconds; formatted back the same way.

use crate::error::{Error, Result};

/// Parses a duration or time of day into seconds.
pub fn parse_seconds(s: &str) -> Result<f64> {
    let t = s.trim();
    let bad = || {
        Error::arg(
            format!("'{s}' is not a duration"),
            "write seconds (90, 1.5), units (30s, 5m, 1h, 1h30m) or HH:MM:SS[.mmm]",
        )
    };
    if t.is_empty() {
        return Err(bad());
    }
    let v = if t.contains(':') {
        let parts: Vec<&str> = t.split(':').collect();
        if parts.len() > 3 {
            return Err(bad());
        }
        let mut total = 0.0;
        for (i, p) in parts.iter().enumerate() {
            let last = i == parts.len() - 1;
            if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit() || (last && c == '.')) {
                return Err(bad());
            }
            let n: f64 = p.parse().map_err(|_| bad())?;
            if i > 0 && n >= 60.0 {
                return Err(bad());
            }
            total = total * 60.0 + n;
        }
        total
    } else if t.chars().last().is_some_and(|c| c.is_ascii_alphabetic()) {
        let mut total = 0.0;
        let mut num = String::new();
        for c in t.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let unit = match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                _ => return Err(bad()),
            };
            let n: f64 = num.parse().map_err(|_| bad())?;
            total += n * unit;
            num.clear();
        }
        if !num.is_empty() {
            return Err(bad());
        }
        total
    } else {
        t.parse::<f64>().map_err(|_| bad())?
    };
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    Ok(v)
}

/// Formats seconds as `HH:MM:SS.mmm`.
pub fn format_hms(secs: f64) -> String {
    let ms = (secs * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Parses an inclusive period range `A..B` (or a single `A`).
pub fn parse_range(s: &str) -> Result<(u64, u64)> {
    let bad = || {
        Error::arg(
            format!("'{s}' is not a period range"),
            "write A..B with A <= B, e.g. 0..3, or one period, e.g. 2",
        )
    };
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        ),
        None => {
            let a = s.trim().parse().map_err(|_| bad())?;
            (a, a)
        }
    };
    if a > b {
        return Err(bad());
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_seconds("90").unwrap(), 90.0);
        assert_eq!(parse_seconds("1.5").unwrap(), 1.5);
        assert_eq!(parse_seconds("30s").unwrap(), 30.0);
        assert_eq!(parse_seconds("1h30m").unwrap(), 5400.0);
        assert_eq!(parse_seconds("00:01:02.500").unwrap(), 62.5);
        assert_eq!(parse_seconds("01:00:00").unwrap(), 3600.0);
        for bad in ["", "x", "1:99", "5q", "-3", "1:2:3:4", "s"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(format_hms(62.5), "00:01:02.500");
        assert_eq!(parse_range("2..5").unwrap(), (2, 5));
        assert_eq!(parse_range("7").unwrap(), (7, 7));
        assert!(parse_range("5..2").is_err());
    }
}
