//! Which contract binary the simulator executes: a deployed release
//! (`3.14.0`, mainnet's `v1.signer`; `3.14.1`, testnet's, the default), checked
//! against its published sha256, or any other binary by path (the future
//! `--contract 3.14.0|3.14.1|PATH`).

use std::path::{Path, PathBuf};

use super::vm::{ContractCode, LoadError};

/// A deployed release kept in `shared/fixtures/near-mpc/contracts/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Release {
    pub version: &'static str,
    pub file: &'static str,
    pub sha256: &'static str,
    pub deployed_as: &'static str,
}

/// The releases of the fixture README, newest last.
pub const RELEASES: [Release; 2] = [
    Release {
        version: "3.14.0",
        file: "signer-3_14_0.wasm",
        sha256: "c64ecba185096c6a52aad8477a2a1e6eecd74c8350328bedf5a60ee738807422",
        deployed_as: "mainnet v1.signer",
    },
    Release {
        version: "3.14.1",
        file: "signer-3_14_1.wasm",
        sha256: "d1e760b1056232e3853d214b301c7d82d8e8911f9bf22078d3c8da00d61f636b",
        deployed_as: "testnet v1.signer-prod.testnet",
    },
];

/// The default: testnet's release.
pub const DEFAULT_VERSION: &str = "3.14.1";

/// A `--contract` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContractChoice {
    Release(Release),
    Path(PathBuf),
}

/// Why a binary could not be used.
#[derive(Debug)]
pub enum DeployedError {
    Read { path: PathBuf, error: std::io::Error },
    Sha256Mismatch { file: &'static str, expected: &'static str, found: String },
    Load { path: PathBuf, error: LoadError },
}

impl std::fmt::Display for DeployedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeployedError::Read { path, error } => write!(f, "{}: {error}", path.display()),
            DeployedError::Sha256Mismatch { file, expected, found } => {
                write!(f, "{file}: sha256 {found} is not the deployed {expected}")
            }
            DeployedError::Load { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for DeployedError {}

impl ContractChoice {
    /// `3.14.0` / `3.14.1` name a release; anything else is a path.
    pub fn parse(text: &str) -> Self {
        match RELEASES.iter().find(|r| r.version == text) {
            Some(release) => ContractChoice::Release(*release),
            None => ContractChoice::Path(PathBuf::from(text)),
        }
    }

    /// Reads and compiles the binary; a release is looked up in
    /// `fixtures_dir` and must match its published sha256.
    pub fn load(&self, fixtures_dir: &Path) -> Result<ContractCode, DeployedError> {
        let path = match self {
            ContractChoice::Release(r) => fixtures_dir.join(r.file),
            ContractChoice::Path(p) => p.clone(),
        };
        let wasm = std::fs::read(&path).map_err(|error| DeployedError::Read { path: path.clone(), error })?;
        let code = ContractCode::load(&wasm).map_err(|error| DeployedError::Load { path: path.clone(), error })?;
        if let ContractChoice::Release(r) = self {
            let found = crate::hex::encode(&code.sha256);
            if found != r.sha256 {
                return Err(DeployedError::Sha256Mismatch { file: r.file, expected: r.sha256, found });
            }
        }
        Ok(code)
    }

    /// What the simulator prints about the binary it runs.
    pub fn describe(&self, code: &ContractCode) -> String {
        let name = match self {
            ContractChoice::Release(r) => format!("{} ({}, {})", r.file, r.version, r.deployed_as),
            ContractChoice::Path(p) => p.display().to_string(),
        };
        format!("contract {name} sha256={} size={}", crate::hex::encode(&code.sha256), code.size)
    }
}
