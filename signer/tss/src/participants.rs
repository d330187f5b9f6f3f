//! Participant identities and sets, and the Lagrange coefficients over a set.
//!
//! A participant is a `u32` (near/mpc's participant id). Shamir shares are evaluations of a
//! polynomial at `id + 1`, so no participant ever holds the evaluation at 0 (the secret).

use alloc::vec::Vec;
use core::fmt;
use k256::Scalar;

/// A participant's identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParticipantId(pub u32);

impl ParticipantId {
    /// The evaluation point of this participant's shares: `id + 1` (never zero).
    pub fn scalar(self) -> Scalar {
        Scalar::from(u64::from(self.0) + 1)
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "participant {}", self.0)
    }
}

impl From<u32> for ParticipantId {
    fn from(v: u32) -> Self {
        ParticipantId(v)
    }
}

/// A sorted set of distinct participants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantList {
    members: Vec<ParticipantId>,
}

/// The most participants any protocol accepts; bounds allocations driven by peer input.
pub const MAX_PARTICIPANTS: usize = 256;

impl ParticipantList {
    /// Builds a set; `None` if empty, larger than [`MAX_PARTICIPANTS`], or with duplicates.
    pub fn new(members: &[ParticipantId]) -> Option<Self> {
        if members.is_empty() || members.len() > MAX_PARTICIPANTS {
            return None;
        }
        let mut sorted = members.to_vec();
        sorted.sort();
        let len = sorted.len();
        sorted.dedup();
        if sorted.len() != len || sorted.iter().any(|p| p.0 == u32::MAX) {
            return None;
        }
        Some(ParticipantList { members: sorted })
    }

    /// Participants `0..n`.
    pub fn range(n: u32) -> Option<Self> {
        let v: Vec<ParticipantId> = (0..n).map(ParticipantId).collect();
        Self::new(&v)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn contains(&self, p: ParticipantId) -> bool {
        self.members.binary_search(&p).is_ok()
    }

    pub fn index_of(&self, p: ParticipantId) -> Option<usize> {
        self.members.binary_search(&p).ok()
    }

    pub fn iter(&self) -> impl Iterator<Item = ParticipantId> + '_ {
        self.members.iter().copied()
    }

    pub fn as_slice(&self) -> &[ParticipantId] {
        &self.members
    }

    /// Everyone except `me`.
    pub fn others(&self, me: ParticipantId) -> impl Iterator<Item = ParticipantId> + '_ {
        self.members.iter().copied().filter(move |p| *p != me)
    }

    /// The union of two sets.
    pub fn union(&self, other: &ParticipantList) -> ParticipantList {
        let mut v = self.members.clone();
        v.extend_from_slice(&other.members);
        v.sort();
        v.dedup();
        ParticipantList { members: v }
    }

    /// Whether every member of `self` is in `other`.
    pub fn is_subset_of(&self, other: &ParticipantList) -> bool {
        self.members.iter().all(|p| other.contains(*p))
    }

    /// The Lagrange coefficient of `p` for interpolating at 0 over this set.
    /// `None` if `p` is not a member.
    pub fn lagrange(&self, p: ParticipantId) -> Option<Scalar> {
        if !self.contains(p) {
            return None;
        }
        let xi = p.scalar();
        let mut num = Scalar::ONE;
        let mut den = Scalar::ONE;
        for q in self.others(p) {
            let xj = q.scalar();
            num *= xj;
            den *= xj - xi;
        }
        // Distinct members have distinct evaluation points, so den is invertible.
        Option::from(den.invert()).map(|inv: Scalar| num * inv)
    }

    /// Canonical bytes (count, then ids) for hashing into transcripts.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.members.len() as u32).to_le_bytes());
        for p in &self.members {
            out.extend_from_slice(&p.0.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lagrange_interpolates_a_line() {
        // f(x) = 7 + 3x; shares at ids 0, 4 (x = 1, 5).
        let set = ParticipantList::new(&[ParticipantId(0), ParticipantId(4)]).unwrap();
        let f = |p: ParticipantId| Scalar::from(7u64) + Scalar::from(3u64) * p.scalar();
        let mut acc = Scalar::ZERO;
        for p in set.iter() {
            acc += set.lagrange(p).unwrap() * f(p);
        }
        assert_eq!(acc, Scalar::from(7u64));
        assert!(ParticipantList::new(&[ParticipantId(1), ParticipantId(1)]).is_none());
        assert!(ParticipantList::new(&[]).is_none());
    }
}
