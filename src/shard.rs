//! `--shard i/n` of `kvc-check run` and `kvc-check lint`: one of `n` parts of the work, so a CI
//! engine can spread it over `n` jobs (GitLab `parallel:`, a GitHub matrix, Jenkins parallel
//! stages) and `kvc-check report merge` joins the runs again.
//!
//! The split is deterministic and needs no coordination: the items (cases, or groups of cases
//! that must run together; files) are sorted, and item `k` (0-based) belongs to shard
//! `k mod n + 1`. Every item is in exactly one shard, and the parts differ in size by at most
//! one item.

use serde::{Deserialize, Serialize};

/// Part `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

/// The largest `n` accepted (more shards than this is a typo, not a CI matrix).
pub const MAX_SHARDS: usize = 1000;

impl Shard {
    /// Reads `i/n` (1 <= i <= n <= [`MAX_SHARDS`]).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let usage = || {
            format!("`{text}`: expected i/n with 1 <= i <= n (e.g. 2/3: the second of three parts)")
        };
        let (i, n) = text.split_once('/').ok_or_else(usage)?;
        let i: usize = i.trim().parse().map_err(|_| usage())?;
        let n: usize = n.trim().parse().map_err(|_| usage())?;
        if n == 0 || i == 0 || i > n {
            return Err(usage());
        }
        if n > MAX_SHARDS {
            return Err(format!("`{text}`: at most {MAX_SHARDS} shards"));
        }
        Ok(Shard { index: i, count: n })
    }

    /// Whether item `k` (0-based, in the sorted order of all items) belongs to this shard.
    pub fn holds(self, k: usize) -> bool {
        k % self.count + 1 == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// clap value parser for `--shard`.
pub fn parse_arg(text: &str) -> Result<Shard, String> {
    Shard::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(Shard::parse("1/1").map(|s| s.to_string()), Ok("1/1".into()));
        for bad in [
            "0/3", "4/3", "x/y", "3", "1/0", "0/0", "-1/3", "1/3/4", "", "/",
        ] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.contains("expected i/n"), "{bad}: {e}");
        }
        assert!(Shard::parse("1/1001").unwrap_err().contains("at most"));
    }

    #[test]
    fn every_item_in_exactly_one_shard() {
        for n in 1..6 {
            for k in 0..20 {
                let owners = (1..=n)
                    .filter(|&i| Shard { index: i, count: n }.holds(k))
                    .count();
                assert_eq!(owners, 1, "item {k} of {n} shards");
            }
        }
    }
}
