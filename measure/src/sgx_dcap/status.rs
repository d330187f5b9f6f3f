//! TCB status: the names Intel's TCB info and QE identity use, their order of
//! severity, and the set of statuses a configuration accepts.

use core::fmt;

/// A TCB level's status, as named in Intel's collateral JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcbStatus {
    UpToDate,
    SwHardeningNeeded,
    ConfigurationNeeded,
    ConfigurationAndSwHardeningNeeded,
    OutOfDate,
    OutOfDateConfigurationNeeded,
    Revoked,
}

impl TcbStatus {
    /// Every status, least severe first.
    pub const ALL: [TcbStatus; 7] = [
        TcbStatus::UpToDate,
        TcbStatus::SwHardeningNeeded,
        TcbStatus::ConfigurationNeeded,
        TcbStatus::ConfigurationAndSwHardeningNeeded,
        TcbStatus::OutOfDate,
        TcbStatus::OutOfDateConfigurationNeeded,
        TcbStatus::Revoked,
    ];

    /// The name in Intel's JSON (`"UpToDate"`, `"SWHardeningNeeded"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            TcbStatus::UpToDate => "UpToDate",
            TcbStatus::SwHardeningNeeded => "SWHardeningNeeded",
            TcbStatus::ConfigurationNeeded => "ConfigurationNeeded",
            TcbStatus::ConfigurationAndSwHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            TcbStatus::OutOfDate => "OutOfDate",
            TcbStatus::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            TcbStatus::Revoked => "Revoked",
        }
    }

    /// Parses Intel's name; anything else is `None`.
    pub fn from_name(name: &str) -> Option<TcbStatus> {
        TcbStatus::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Severity rank (0 = `UpToDate` ... 6 = `Revoked`).
    pub const fn severity(self) -> u8 {
        self as u8
    }

    /// The platform's status combined with the quoting enclave's, as Intel's QVL
    /// converges them: an out-of-date QE makes an up-to-date or SW-hardening
    /// platform `OutOfDate` and a configuration-needed one
    /// `OutOfDateConfigurationNeeded`; a revoked QE makes it `Revoked`; any
    /// other QE status gives the more severe of the two (Intel's QE identities
    /// use only `UpToDate`, `OutOfDate` and `Revoked`).
    pub fn converge(platform: TcbStatus, qe: TcbStatus) -> TcbStatus {
        use TcbStatus::*;
        match (qe, platform) {
            (UpToDate, p) => p,
            (Revoked, _) => Revoked,
            (OutOfDate, UpToDate | SwHardeningNeeded) => OutOfDate,
            (OutOfDate, ConfigurationNeeded | ConfigurationAndSwHardeningNeeded) => OutOfDateConfigurationNeeded,
            (q, p) => p.worst(q),
        }
    }

    /// The more severe of two statuses.
    pub fn worst(self, other: TcbStatus) -> TcbStatus {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of accepted statuses. `Revoked` can never be in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcbStatusSet(u8);

impl TcbStatusSet {
    /// Only `UpToDate`: the default a configuration starts from.
    pub const UP_TO_DATE_ONLY: TcbStatusSet = TcbStatusSet(TcbStatus::UpToDate.bit());

    /// The empty set.
    pub const fn empty() -> TcbStatusSet {
        TcbStatusSet(0)
    }

    /// Adds `status`; refuses `Revoked` (a revoked platform is never acceptable).
    pub fn insert(&mut self, status: TcbStatus) -> Result<(), TcbStatus> {
        if status == TcbStatus::Revoked {
            return Err(status);
        }
        self.0 |= status.bit();
        Ok(())
    }

    /// Whether `status` is accepted.
    pub const fn contains(self, status: TcbStatus) -> bool {
        self.0 & status.bit() != 0
    }

    /// Whether nothing is accepted.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The accepted statuses, least severe first.
    pub fn iter(self) -> impl Iterator<Item = TcbStatus> {
        TcbStatus::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl fmt::Display for TcbStatusSet {
    /// Comma-separated names, least severe first (the config syntax).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(s.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for s in TcbStatus::ALL {
            assert_eq!(TcbStatus::from_name(s.name()), Some(s));
        }
        assert_eq!(TcbStatus::from_name("uptodate"), None);
        assert_eq!(TcbStatus::from_name(""), None);
    }

    #[test]
    fn worst_is_the_more_severe() {
        assert_eq!(TcbStatus::UpToDate.worst(TcbStatus::SwHardeningNeeded), TcbStatus::SwHardeningNeeded);
        assert_eq!(TcbStatus::OutOfDate.worst(TcbStatus::ConfigurationNeeded), TcbStatus::OutOfDate);
        assert_eq!(TcbStatus::Revoked.worst(TcbStatus::UpToDate), TcbStatus::Revoked);
    }

    #[test]
    fn qe_status_converges_like_intels_qvl() {
        use TcbStatus::*;
        assert_eq!(TcbStatus::converge(SwHardeningNeeded, UpToDate), SwHardeningNeeded);
        assert_eq!(TcbStatus::converge(UpToDate, OutOfDate), OutOfDate);
        assert_eq!(TcbStatus::converge(SwHardeningNeeded, OutOfDate), OutOfDate);
        assert_eq!(TcbStatus::converge(ConfigurationNeeded, OutOfDate), OutOfDateConfigurationNeeded);
        assert_eq!(TcbStatus::converge(ConfigurationAndSwHardeningNeeded, OutOfDate), OutOfDateConfigurationNeeded);
        assert_eq!(TcbStatus::converge(OutOfDateConfigurationNeeded, OutOfDate), OutOfDateConfigurationNeeded);
        assert_eq!(TcbStatus::converge(UpToDate, Revoked), Revoked);
        assert_eq!(TcbStatus::converge(Revoked, UpToDate), Revoked);
    }

    #[test]
    fn a_set_never_holds_revoked() {
        let mut set = TcbStatusSet::empty();
        assert!(set.is_empty());
        assert_eq!(set.insert(TcbStatus::Revoked), Err(TcbStatus::Revoked));
        set.insert(TcbStatus::SwHardeningNeeded).unwrap();
        set.insert(TcbStatus::UpToDate).unwrap();
        assert!(set.contains(TcbStatus::UpToDate) && !set.contains(TcbStatus::OutOfDate));
        assert_eq!(alloc::format!("{set}"), "UpToDate,SWHardeningNeeded");
    }
}
