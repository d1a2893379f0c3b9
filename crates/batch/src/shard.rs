//! `--shard I/N`: a stable partition of a catalogue's titles.
//!
//! A title belongs to shard `SHA-256(content id) mod N` (the first 8 bytes of the
//! digest, big-endian). It depends on the id alone, not on the walk order or on
//! what else is in the catalogue, so N machines given 0/N..N-1/N each take a
//! disjoint part and together take every title exactly once, and a title stays on
//! its shard when others are added.

use std::fmt;

use sha2::{Digest, Sha256};

use shieldpack_core::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The whole catalogue.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn parse(s: &str) -> Result<Shard> {
        let bad = || {
            Error::arg(
                format!("--shard '{s}' is not I/N"),
                "give a 0-based shard index and the shard count, e.g. --shard 0/4 .. --shard 3/4",
            )
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(Error::arg(
                format!("--shard {s}: the index must be below the count, and the count above 0"),
                "shards are numbered from 0: with N shards give 0/N .. (N-1)/N",
            ));
        }
        Ok(Shard { index, count })
    }

    /// Whether this shard takes the title with `content_id`.
    pub fn takes(&self, content_id: &str) -> bool {
        bucket(content_id, self.count) == self.index
    }

    pub fn is_all(&self) -> bool {
        self.count == 1
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard of `content_id` among `count`.
pub fn bucket(content_id: &str, count: u64) -> u64 {
    let d = Sha256::digest(content_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first) % count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(Shard::parse("2/5").unwrap(), Shard { index: 2, count: 5 });
        for bad in ["5/5", "1/0", "x/2", "3", "-1/2", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_partition_and_spread() {
        let ids: Vec<String> = (0..1000).map(|i| format!("title-{i}")).collect();
        for n in [1, 2, 3, 7] {
            let mut sizes = vec![0; n as usize];
            for id in &ids {
                let takers: Vec<u64> = (0..n)
                    .filter(|&i| Shard { index: i, count: n }.takes(id))
                    .collect();
                assert_eq!(takers.len(), 1);
                sizes[takers[0] as usize] += 1;
            }
            assert!(
                sizes.iter().all(|&s| s > 1000 / n as usize / 2),
                "{sizes:?}"
            );
        }
    }
}
