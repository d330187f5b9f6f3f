//! NEAR account-id rules and the shard an account lives in.

/// 2..=64 characters of `a-z 0-9 - _ .`; separators (`-_.`) neither at the
/// ends nor next to each other.
pub fn is_valid_account_id(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 || b.len() > 64 {
        return false;
    }
    let mut prev_sep = true;
    for &c in b {
        let sep = matches!(c, b'-' | b'_' | b'.');
        if sep {
            if prev_sep {
                return false;
            }
        } else if !(c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return false;
        }
        prev_sep = sep;
    }
    !prev_sep
}

/// A NEAR-style shard layout: sorted boundary accounts; an account belongs
/// to the shard whose range holds it (lexicographic order).
#[derive(Clone, Debug)]
pub struct ShardLayout {
    boundaries: Vec<String>,
}

impl ShardLayout {
    /// `shards` shards with boundaries spread over `a..z` (one letter each).
    pub fn spread(shards: usize) -> Self {
        let shards = shards.clamp(1, 26);
        let boundaries = (1..shards)
            .map(|i| {
                let letter = b'a' + u8::try_from(26 * i / shards).unwrap_or(25).min(25);
                char::from(letter).to_string()
            })
            .collect();
        Self { boundaries }
    }

    pub fn num_shards(&self) -> usize {
        self.boundaries.len() + 1
    }

    pub fn shard_of(&self, account: &str) -> usize {
        self.boundaries.iter().filter(|b| account >= b.as_str()).count()
    }

    pub fn boundaries(&self) -> &[String] {
        &self.boundaries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_rules() {
        for ok in ["ab", "alice.test", "v1.signer-sim.test", "a_b-c.d"] {
            assert!(is_valid_account_id(ok), "{ok}");
        }
        for bad in ["a", "", "Alice", ".a", "a.", "a..b", "a b", &"a".repeat(65)] {
            assert!(!is_valid_account_id(bad), "{bad}");
        }
    }

    #[test]
    fn layout() {
        let l = ShardLayout::spread(4);
        assert_eq!(l.num_shards(), 4);
        assert_eq!(l.shard_of("alice.test"), 0);
        assert_eq!(l.shard_of("v1.signer-sim.test"), 3);
        assert_eq!(ShardLayout::spread(1).shard_of("zzz"), 0);
    }
}
