//! The image's configuration: the kernel command line.
//!
//! The command line comes from the host, so it is hostile input. Once it
//! parses, the image extends RTMR3 with its canonical form
//! ([`NodeConfig::canonical`]) and the network policy it implies
//! ([`NodeConfig::policy_payload`]) before any secret exists (see the kernel's
//! `measured_boot` docs); a command line that does not parse halts the image
//! before anything is fetched or unsealed. RTMR2 carries no per-node value.
//! Parsing is strict: unknown keys, duplicates, and values
//! out of range are errors, because a silently ignored key in measured config
//! would make two different intentions measure the same.
//!
//! Grammar: tokens separated by ASCII spaces, each `key=value`:
//!
//! | key    | value                          | required                  |
//! |--------|--------------------------------|---------------------------|
//! | `net`  | `dhcp` or `static`             | yes                       |
//! | `ip`   | `A.B.C.D/PREFIX`               | iff `net=static`          |
//! | `gw`   | `A.B.C.D`                      | no (static only)          |
//! | `dns`  | `A.B.C.D`                      | no                        |
//! | `http` | TCP port 1..=65535             | yes                       |
//! | `probe`| `HOST:PORT` (name or A.B.C.D)  | no                        |
//! | `account` | the node's NEAR account id  | yes                       |
//! | `key_source` | `test:<64 hex>` or `local-sgx:...` (below) | yes |
//!
//! Signer mode (all four together, or none: without them the image only
//! serves `/health` and `/public_data`):
//!
//! | key        | value                                                   |
//! |------------|---------------------------------------------------------|
//! | `contract` | the signer contract's account id                        |
//! | `rpc`      | `http(s)://host[:port][/path]`, comma-separated, 1..=8  |
//! | `p2p`      | TCP port the node accepts peer connections on           |
//! | `trust`    | hex of a `LightClientState` (tdsigner-near) to start from |
//!
//! Tuning (signer mode only, each optional; defaults in
//! `machine::MachineConfig::new`). Measured like every other key, so a verifier sees how a
//! node was tuned:
//!
//! | key                  | value (decimal)                  | what                                   |
//! |----------------------|----------------------------------|----------------------------------------|
//! | `protocol_idle_ms`   | 1000..=3600000                   | abort a run silent this long           |
//! | `protocol_max_ms`    | 1000..=86400000, >= idle         | abort any run this old                 |
//! | `triple_batch`       | 1..=64                           | triples per generation run             |
//! | `triples_low`/`_high`| 1..=4096, low <= high            | triple pool water marks                |
//! | `presignatures_low`/`_high` | 1..=4096, low <= high     | presignature pool water marks          |
//! | `request_max_age_blocks` | 1..=100000                   | drop requests older (= the contract's yield timeout; NEAR: 200) |
//! | `attestation`        | `dstack` (default) or `mock-testnet` | `mock-testnet`: submit `{"Mock":"Valid"}`; the contract then does NOT verify the TEE (status, metrics say so); refused with `contract=v1.signer` |
//! | `view_quorum`        | 1..=8, <= rpc endpoints (default 1) | unproven views (code hash, liveness) must agree among this many answering endpoints |
//! | `contract_state`     | `proven:INDEX/COUNT` (default `proven:0/1`) or `unproven-views` | contract STATE proven against the light client in shard INDEX of COUNT (`machine::proven`); `unproven-views`: simulators without proofs only, refused with `contract=v1.signer` |
//!
//! Slow hosts (many TCG guests on few cores) need a longer `protocol_idle_ms` and smaller
//! batches; the defaults suit one guest per core.
//!
//! `trust` is the light-client trust anchor: because it is part of the
//! measured command line, a verifier sees exactly which chain state the node
//! started from. (Its size grows with the validator set: fine for test
//! networks, too large for mainnet's, where a measured config disk is needed;
//! not done.)
//!
//! `key_source` names where the sealing key comes from:
//! - `test:<64 hex>`: the key is in the config, so the host knows it; for CI
//!   and development, recorded as such in RTMR3 and `/public_data`.
//! - `local-sgx:HOST:PORT;mrenclave=M1[,M2...];collateral=CHOST:CPORT/PATH;tcb_eval_min=N[;tcb_accept=S1[,S2...]]`:
//!   the host's SGX local key provider
//!   (`tdsigner_store::keysource::LocalSgxKeySource`) at HOST (DNS name or
//!   A.B.C.D) and TCP PORT. The `;` fields come in this order, each once:
//!
//!   | field          | value                                                  | required |
//!   |----------------|--------------------------------------------------------|----------|
//!   | `mrenclave`    | 1..=8 distinct MRENCLAVEs (64 hex each), comma-separated | yes    |
//!   | `collateral`   | `HOST:PORT/PATH`: plain-HTTP GET of the SGX collateral JSON; PATH starts with `/`, printable ASCII without spaces, <= 256 bytes | yes |
//!   | `tcb_eval_min` | decimal 1..=4294967295: the least `tcbEvaluationDataNumber` the TCB info and QE identity must carry | yes |
//!   | `tcb_accept`   | TCB status names (Intel's spelling, e.g. `UpToDate,SWHardeningNeeded`), distinct, must include `UpToDate`, never `Revoked` | no (default `UpToDate`) |
//!
//!   The provider's key is accepted only if its SGX quote names one of the
//!   pinned MRENCLAVEs and verifies to the pinned root (Intel's on TDX, the
//!   EMULATED test root on the emulated platform) with the fetched
//!   collateral. The collateral travels over plain HTTP on purpose: Intel
//!   signs it, so integrity comes from those signatures, and `tcb_eval_min`
//!   stops an old, validly signed collateral set from being replayed. The
//!   verifier is `tdsigner_measure::sgx_dcap`; how the image fixes the time
//!   it checks at is in the kernel README.
//!
//! `probe` is an operator diagnostic: at boot the image resolves HOST (DNS)
//! and opens a TCP connection to it, logging the outcome, so reachability of
//! e.g. an RPC endpoint can be checked from inside the TD.

use alloc::string::String;
use core::fmt;
use core::net::Ipv4Addr;

use tdsigner_measure::sgx_dcap::{TcbStatus, TcbStatusSet};

/// Longest command line accepted, in bytes (the kernel copies at most 8192
/// UTF-16 units of load options).
pub const MAX_CMDLINE_LEN: usize = 8192;
/// Most RPC endpoints.
pub const MAX_RPC_ENDPOINTS: usize = 8;

/// How the image gets its IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetConfig {
    /// DHCPv4 on the first virtio-net device.
    Dhcp,
    /// A fixed address.
    Static {
        /// Interface address.
        address: Ipv4Addr,
        /// Prefix length, 1..=32.
        prefix_len: u8,
        /// Default gateway, if any.
        gateway: Option<Ipv4Addr>,
    },
}

/// A host to reach: a DNS name or an IPv4 literal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A DNS name (validated: labels of `[A-Za-z0-9-]`, 1..=63 bytes, total <= 253).
    Name(String),
    /// An address.
    Ipv4(Ipv4Addr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ipv4(a) => write!(f, "{a}"),
        }
    }
}

/// A `HOST:PORT` endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: Host,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Longest path of an [`HttpResource`], in bytes.
pub const MAX_HTTP_PATH_LEN: usize = 256;

/// A resource fetched with a plain-HTTP GET: `HOST:PORT/PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResource {
    /// The server.
    pub endpoint: Endpoint,
    /// Starts with `/`; printable ASCII without spaces, at most
    /// [`MAX_HTTP_PATH_LEN`] bytes.
    pub path: String,
}

impl fmt::Display for HttpResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.endpoint, self.path)
    }
}

/// Most provider MRENCLAVEs one `local-sgx` config may pin.
pub const MAX_PINNED_ENCLAVES: usize = 8;

/// Where the sealing key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySourceConfig {
    /// A key given in the config (test only).
    Test(zeroize::Zeroizing<[u8; 32]>),
    /// The host's SGX local key provider.
    LocalSgx {
        /// Where the provider listens.
        provider: Endpoint,
        /// MRENCLAVEs of provider builds this config trusts, in config order
        /// (distinct, 1..=[`MAX_PINNED_ENCLAVES`]).
        mr_enclaves: alloc::vec::Vec<[u8; 32]>,
        /// Where the SGX collateral (TCB info, QE identity, CRLs; Intel-signed)
        /// is fetched from.
        collateral: HttpResource,
        /// The least `tcbEvaluationDataNumber` the TCB info and QE identity
        /// must carry (>= 1), so old signed collateral cannot be replayed.
        min_tcb_evaluation_data_number: u32,
        /// TCB statuses accepted for the provider's platform (never
        /// `Revoked`, always `UpToDate`).
        tcb_accept: TcbStatusSet,
    },
}

impl fmt::Debug for KeySourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySourceConfig::Test(_) => f.write_str("Test(<redacted>)"),
            KeySourceConfig::LocalSgx { provider, mr_enclaves, collateral, min_tcb_evaluation_data_number, tcb_accept } => f
                .debug_struct("LocalSgx")
                .field("provider", &format_args!("{provider}"))
                .field("mr_enclaves", &mr_enclaves.len())
                .field("collateral", &format_args!("{collateral}"))
                .field("tcb_eval_min", min_tcb_evaluation_data_number)
                .field("tcb_accept", &format_args!("{tcb_accept}"))
                .finish(),
        }
    }
}

/// One RPC endpoint, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcUrl {
    /// The URL as configured.
    pub url: String,
    pub tls: bool,
    pub host: Host,
    pub port: u16,
    pub path: String,
}

/// What a signer node needs besides the basics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerConfig {
    pub contract: String,
    pub rpc: alloc::vec::Vec<RpcUrl>,
    pub p2p_port: u16,
    /// `LightClientState` bytes (decoded from hex; checked when the node starts).
    pub trust: alloc::vec::Vec<u8>,
    /// Overrides of the state machine's defaults.
    pub tuning: Tuning,
}

impl SignerConfig {
    /// Writes the tuning into `cfg` and, on a real TDX guest (`tdx`), excludes the plain-HTTP
    /// RPC endpoints from unproven views: the host sits on their path and can answer for them,
    /// so they may serve proven data (blocks, proofs) but never count toward a view quorum.
    pub fn apply(&self, cfg: &mut crate::machine::MachineConfig, tdx: bool) {
        self.tuning.apply(cfg);
        cfg.views_exclude = if tdx { self.rpc.iter().enumerate().filter(|(_, u)| !u.tls).map(|(i, _)| i).collect() } else { alloc::vec::Vec::new() };
    }
}

/// Optional overrides of [`crate::machine::MachineConfig`]'s defaults (range-checked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tuning {
    pub protocol_idle_ms: Option<u64>,
    pub protocol_max_ms: Option<u64>,
    pub triple_batch: Option<usize>,
    pub triples_low: Option<usize>,
    pub triples_high: Option<usize>,
    pub presignatures_low: Option<usize>,
    pub presignatures_high: Option<usize>,
    pub request_max_age_blocks: Option<u64>,
    /// `attestation`: what `submit_participant_info` carries.
    pub attestation: Option<crate::machine::attestation::AttestationMode>,
    /// `view_quorum`: unproven views (liveness hints, the code hash) must agree among this
    /// many answering endpoints (failed endpoints do not count).
    pub view_quorum: Option<usize>,
    /// `contract_state`: where the contract state comes from (default: proven, shard 0 of 1).
    pub contract_state: Option<crate::machine::proven::ContractStateSource>,
}

impl Tuning {
    /// Writes the overrides into `cfg`; unset values keep its defaults.
    pub fn apply(&self, cfg: &mut crate::machine::MachineConfig) {
        fn set<T: Copy>(v: Option<T>, slot: &mut T) {
            if let Some(v) = v {
                *slot = v;
            }
        }
        set(self.protocol_idle_ms, &mut cfg.protocol_idle_ms);
        set(self.protocol_max_ms, &mut cfg.protocol_max_ms);
        set(self.triple_batch, &mut cfg.triple_batch);
        set(self.triples_low, &mut cfg.triples_low);
        set(self.triples_high, &mut cfg.triples_high);
        set(self.presignatures_low, &mut cfg.presignatures_low);
        set(self.presignatures_high, &mut cfg.presignatures_high);
        set(self.request_max_age_blocks, &mut cfg.request_max_age_blocks);
        set(self.attestation, &mut cfg.attestation);
        set(self.view_quorum, &mut cfg.view_quorum);
        if let Some(source) = &self.contract_state {
            cfg.contract_state = source.clone();
        }
    }
}

/// The parsed configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// Addressing.
    pub net: NetConfig,
    /// DNS server; with DHCP, overrides the lease's server.
    pub dns: Option<Ipv4Addr>,
    /// TCP port of the HTTP endpoint (`/health`).
    pub http_port: u16,
    /// Connectivity probe run once at boot.
    pub probe: Option<Endpoint>,
    /// The node's NEAR account id (also binds the sealed store to this node).
    pub account: String,
    /// Sealing-key source.
    pub key_source: KeySourceConfig,
    /// Signer mode, if configured.
    pub signer: Option<SignerConfig>,
    /// `allow_debug=1`: run even as a DEBUG TD (the host can read it); every
    /// output then says DEBUG. Measured like every key.
    pub allow_debug: bool,
}

/// Why a command line was refused. Each variant names the key or token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The command line is empty: the host passed no configuration.
    Empty,
    /// Longer than [`MAX_CMDLINE_LEN`].
    TooLong { len: usize },
    /// A byte outside printable ASCII.
    BadCharacter { offset: usize },
    /// A token without `=`.
    NotKeyValue { token_index: usize },
    /// A key this image does not know.
    UnknownKey { key: KeyName },
    /// A key given twice.
    DuplicateKey { key: &'static str },
    /// A required key is absent.
    MissingKey { key: &'static str },
    /// A value that does not parse or is out of range.
    BadValue { key: &'static str, reason: &'static str },
    /// `ip`/`gw` given with `net=dhcp`.
    StaticKeyWithDhcp { key: &'static str },
}

/// An unknown key, kept short for the error message (never the whole line).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyName {
    bytes: [u8; 32],
    len: u8,
}

impl KeyName {
    fn new(key: &str) -> Self {
        let mut bytes = [0u8; 32];
        let len = key.len().min(bytes.len());
        bytes[..len].copy_from_slice(&key.as_bytes()[..len]);
        KeyName { bytes, len: len as u8 }
    }

    /// The (possibly truncated) key.
    pub fn as_str(&self) -> &str {
        // Only printable ASCII reaches here (checked before tokenising), and
        // truncation at a byte boundary of ASCII stays valid UTF-8.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("?")
    }
}

impl fmt::Debug for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Empty => write!(f, "no configuration: the kernel command line is empty"),
            ConfigError::TooLong { len } => {
                write!(f, "command line is {len} bytes, limit {MAX_CMDLINE_LEN}")
            }
            ConfigError::BadCharacter { offset } => {
                write!(f, "byte {offset} is not printable ASCII")
            }
            ConfigError::NotKeyValue { token_index } => {
                write!(f, "token {token_index} is not key=value")
            }
            ConfigError::UnknownKey { key } => write!(f, "unknown key `{}`", key.as_str()),
            ConfigError::DuplicateKey { key } => write!(f, "key `{key}` given twice"),
            ConfigError::MissingKey { key } => write!(f, "required key `{key}` missing"),
            ConfigError::BadValue { key, reason } => write!(f, "bad value for `{key}`: {reason}"),
            ConfigError::StaticKeyWithDhcp { key } => {
                write!(f, "`{key}` only applies to net=static")
            }
        }
    }
}

const KEYS: [&str; 24] = [
    "net",
    "ip",
    "gw",
    "dns",
    "http",
    "probe",
    "account",
    "key_source",
    "contract",
    "rpc",
    "p2p",
    "trust",
    "protocol_idle_ms",
    "protocol_max_ms",
    "triple_batch",
    "triples_low",
    "triples_high",
    "presignatures_low",
    "presignatures_high",
    "request_max_age_blocks",
    "allow_debug",
    "attestation",
    "view_quorum",
    "contract_state",
];

impl NodeConfig {
    /// Parses a command line. Leading/trailing spaces and runs of spaces are
    /// allowed; everything else is strict.
    pub fn parse(cmdline: &str) -> Result<NodeConfig, ConfigError> {
        if cmdline.len() > MAX_CMDLINE_LEN {
            return Err(ConfigError::TooLong { len: cmdline.len() });
        }
        if let Some(offset) = cmdline.bytes().position(|b| !(0x20..0x7f).contains(&b)) {
            return Err(ConfigError::BadCharacter { offset });
        }
        let mut values: [Option<&str>; KEYS.len()] = [None; KEYS.len()];
        let mut tokens = 0usize;
        // Every accepted token fills a distinct slot, so the loop ends after at
        // most KEYS.len() + 1 tokens: no separate token limit is needed.
        for (token_index, token) in cmdline.split(' ').filter(|t| !t.is_empty()).enumerate() {
            tokens += 1;
            let (key, value) =
                token.split_once('=').ok_or(ConfigError::NotKeyValue { token_index })?;
            let slot = KEYS
                .iter()
                .position(|k| *k == key)
                .ok_or_else(|| ConfigError::UnknownKey { key: KeyName::new(key) })?;
            if values[slot].is_some() {
                return Err(ConfigError::DuplicateKey { key: KEYS[slot] });
            }
            values[slot] = Some(value);
        }
        if tokens == 0 {
            return Err(ConfigError::Empty);
        }
        let [net, ip, gw, dns, http, probe, account, key_source, contract, rpc, p2p, trust, protocol_idle_ms, protocol_max_ms, triple_batch, triples_low, triples_high, presignatures_low, presignatures_high, request_max_age_blocks, allow_debug, attestation, view_quorum, contract_state] =
            values;
        let allow_debug = match allow_debug {
            None => false,
            Some("1") => true,
            Some(_) => return Err(ConfigError::BadValue { key: "allow_debug", reason: "expected 1 (or leave the key out)" }),
        };

        let net = match net.ok_or(ConfigError::MissingKey { key: "net" })? {
            "dhcp" => {
                if ip.is_some() {
                    return Err(ConfigError::StaticKeyWithDhcp { key: "ip" });
                }
                if gw.is_some() {
                    return Err(ConfigError::StaticKeyWithDhcp { key: "gw" });
                }
                NetConfig::Dhcp
            }
            "static" => {
                let ip = ip.ok_or(ConfigError::MissingKey { key: "ip" })?;
                let (address, prefix_len) = parse_cidr(ip)?;
                let gateway = gw.map(|g| parse_ipv4("gw", g)).transpose()?;
                NetConfig::Static { address, prefix_len, gateway }
            }
            _ => return Err(ConfigError::BadValue { key: "net", reason: "expected dhcp or static" }),
        };
        let dns = dns.map(|d| parse_ipv4("dns", d)).transpose()?;
        let http = http.ok_or(ConfigError::MissingKey { key: "http" })?;
        let http_port = parse_decimal(http)
            .filter(|p| (1..=u16::MAX as u64).contains(p))
            .ok_or(ConfigError::BadValue { key: "http", reason: "expected a port 1..=65535" })?
            as u16;
        let probe = probe.map(parse_endpoint).transpose()?;
        let account = account.ok_or(ConfigError::MissingKey { key: "account" })?;
        if !tdsigner_near::view::is_valid_account_id(account) {
            return Err(ConfigError::BadValue { key: "account", reason: "not a valid NEAR account id" });
        }
        let key_source = parse_key_source(key_source.ok_or(ConfigError::MissingKey { key: "key_source" })?)?;
        let mut tuning = parse_tuning(
            [protocol_idle_ms, protocol_max_ms, triple_batch, triples_low, triples_high, presignatures_low, presignatures_high, request_max_age_blocks],
        )?;
        tuning.attestation = attestation
            .map(|a| {
                crate::machine::attestation::AttestationMode::parse(a)
                    .ok_or(ConfigError::BadValue { key: "attestation", reason: "expected dstack or mock-testnet" })
            })
            .transpose()?;
        tuning.view_quorum = view_quorum
            .map(|q| {
                parse_decimal(q)
                    .filter(|n| (1..=MAX_RPC_ENDPOINTS as u64).contains(n))
                    .map(|n| n as usize)
                    .ok_or(ConfigError::BadValue { key: "view_quorum", reason: "expected 1..=8" })
            })
            .transpose()?;
        tuning.contract_state = contract_state.map(parse_contract_state).transpose()?;
        let signer = match (contract, rpc, p2p, trust) {
            (None, None, None, None) => {
                if tuning != Tuning::default() {
                    return Err(ConfigError::BadValue { key: "contract", reason: "tuning keys need signer mode" });
                }
                None
            }
            (contract, rpc, p2p, trust) => {
                let contract = contract.ok_or(ConfigError::MissingKey { key: "contract" })?;
                if !tdsigner_near::view::is_valid_account_id(contract) {
                    return Err(ConfigError::BadValue { key: "contract", reason: "not a valid NEAR account id" });
                }
                if tuning.attestation.unwrap_or_default().check_contract(contract).is_err() {
                    return Err(ConfigError::BadValue { key: "attestation", reason: "mock-testnet is refused for mainnet's v1.signer" });
                }
                if contract == "v1.signer" && tuning.contract_state == Some(crate::machine::proven::ContractStateSource::UnprovenViews) {
                    return Err(ConfigError::BadValue { key: "contract_state", reason: "unproven-views is refused for mainnet's v1.signer" });
                }
                let rpc = parse_rpc_list(rpc.ok_or(ConfigError::MissingKey { key: "rpc" })?)?;
                if tuning.view_quorum.is_some_and(|q| q > rpc.len()) {
                    return Err(ConfigError::BadValue { key: "view_quorum", reason: "more than the rpc endpoints" });
                }
                let p2p_port = parse_decimal(p2p.ok_or(ConfigError::MissingKey { key: "p2p" })?)
                    .filter(|p| (1..=u16::MAX as u64).contains(p))
                    .ok_or(ConfigError::BadValue { key: "p2p", reason: "expected a port 1..=65535" })?
                    as u16;
                if p2p_port == http_port {
                    return Err(ConfigError::BadValue { key: "p2p", reason: "must differ from the http port" });
                }
                let trust = decode_hex(trust.ok_or(ConfigError::MissingKey { key: "trust" })?)
                    .ok_or(ConfigError::BadValue { key: "trust", reason: "expected hex" })?;
                Some(SignerConfig { contract: String::from(contract), rpc, p2p_port, trust, tuning })
            }
        };
        Ok(NodeConfig { net, dns, http_port, probe, account: String::from(account), key_source, signer, allow_debug })
    }
}

impl NodeConfig {
    /// The canonical command line (the `tdsigner.config` RTMR3 payload): every set key once, in
    /// `KEYS` order, one space between tokens, each value in one spelling (decimal without
    /// leading zeros, lowercase hex, dotted-quad addresses, `tcb_accept` always written, least
    /// severe first). URLs, host names and paths stay as configured. It parses back to `self`,
    /// so two command lines meaning the same configuration measure the same. With
    /// `key_source=test` it holds the test key, which the host knows anyway.
    pub fn canonical(&self) -> String {
        use core::fmt::Write;
        let mut out = String::new();
        // Writing to a String cannot fail.
        let mut put = |key: &str, value: core::fmt::Arguments<'_>| {
            let _ = write!(out, "{}{key}={value}", if out.is_empty() { "" } else { " " });
        };
        match &self.net {
            NetConfig::Dhcp => put("net", format_args!("dhcp")),
            NetConfig::Static { address, prefix_len, gateway } => {
                put("net", format_args!("static"));
                put("ip", format_args!("{address}/{prefix_len}"));
                if let Some(gw) = gateway {
                    put("gw", format_args!("{gw}"));
                }
            }
        }
        if let Some(dns) = self.dns {
            put("dns", format_args!("{dns}"));
        }
        put("http", format_args!("{}", self.http_port));
        if let Some(probe) = &self.probe {
            put("probe", format_args!("{probe}"));
        }
        put("account", format_args!("{}", self.account));
        match &self.key_source {
            KeySourceConfig::Test(key) => put("key_source", format_args!("test:{}", tdsigner_measure::hex::encode(&key[..]))),
            KeySourceConfig::LocalSgx { provider, mr_enclaves, collateral, min_tcb_evaluation_data_number, tcb_accept } => {
                let enclaves: alloc::vec::Vec<String> = mr_enclaves.iter().map(|m| tdsigner_measure::hex::encode(m)).collect();
                put(
                    "key_source",
                    format_args!(
                        "local-sgx:{provider};mrenclave={};collateral={collateral};tcb_eval_min={min_tcb_evaluation_data_number};tcb_accept={tcb_accept}",
                        enclaves.join(",")
                    ),
                );
            }
        }
        if let Some(signer) = &self.signer {
            put("contract", format_args!("{}", signer.contract));
            let urls: alloc::vec::Vec<&str> = signer.rpc.iter().map(|u| u.url.as_str()).collect();
            put("rpc", format_args!("{}", urls.join(",")));
            put("p2p", format_args!("{}", signer.p2p_port));
            put("trust", format_args!("{}", tdsigner_measure::hex::encode(&signer.trust)));
            let t = &signer.tuning;
            let tuning = [
                ("protocol_idle_ms", t.protocol_idle_ms),
                ("protocol_max_ms", t.protocol_max_ms),
                ("triple_batch", t.triple_batch.map(|v| v as u64)),
                ("triples_low", t.triples_low.map(|v| v as u64)),
                ("triples_high", t.triples_high.map(|v| v as u64)),
                ("presignatures_low", t.presignatures_low.map(|v| v as u64)),
                ("presignatures_high", t.presignatures_high.map(|v| v as u64)),
                ("request_max_age_blocks", t.request_max_age_blocks),
            ];
            for (key, value) in tuning {
                if let Some(v) = value {
                    put(key, format_args!("{v}"));
                }
            }
            if let Some(mode) = t.attestation {
                put("attestation", format_args!("{}", mode.name()));
            }
            if let Some(q) = t.view_quorum {
                put("view_quorum", format_args!("{q}"));
            }
            match &t.contract_state {
                Some(crate::machine::proven::ContractStateSource::Proven(pin)) => {
                    put("contract_state", format_args!("proven:{}/{}", pin.shard_index, pin.shard_count));
                }
                Some(crate::machine::proven::ContractStateSource::UnprovenViews) => {
                    put("contract_state", format_args!("unproven-views"));
                }
                None => {}
            }
        }
        if self.allow_debug {
            put("allow_debug", format_args!("1"));
        }
        out
    }

    /// The `tdsigner.policy` RTMR3 payload for this configuration under image `image_version`
    /// (encoding: `tdsigner_measure::names::Policy::encode`): contract, SHA-256 of the trust
    /// anchor, key-source kind with pinned MRENCLAVEs, `tcb_eval_min` and `tcb_accept`, RPC
    /// URLs. Nothing per node: the same for every node of one network and release.
    pub fn policy_payload(&self, image_version: &str) -> String {
        use sha2::Digest;
        use tdsigner_measure::names::{KeySourcePolicy, Policy};
        let tcb_accept_text;
        let key_source = match &self.key_source {
            KeySourceConfig::Test(_) => KeySourcePolicy::Test,
            KeySourceConfig::LocalSgx { mr_enclaves, min_tcb_evaluation_data_number, tcb_accept, .. } => {
                tcb_accept_text = alloc::format!("{tcb_accept}");
                KeySourcePolicy::LocalSgx {
                    mr_enclaves,
                    tcb_eval_min: *min_tcb_evaluation_data_number,
                    tcb_accept: &tcb_accept_text,
                }
            }
        };
        let rpc: alloc::vec::Vec<&str> =
            self.signer.iter().flat_map(|s| s.rpc.iter().map(|u| u.url.as_str())).collect();
        Policy {
            image_version,
            contract: self.signer.as_ref().map(|s| s.contract.as_str()),
            trust_anchor_sha256: self.signer.as_ref().map(|s| sha2::Sha256::digest(&s.trust).into()),
            key_source,
            rpc: &rpc,
        }
        .encode()
    }
}

/// The tuning keys, in `KEYS` order from `protocol_idle_ms`.
fn parse_tuning(v: [Option<&str>; 8]) -> Result<Tuning, ConfigError> {
    let [idle, max, batch, tl, th, pl, ph, max_age] = v;
    let num = |key: &'static str, v: Option<&str>, lo: u64, hi: u64, reason: &'static str| {
        v.map(|s| parse_decimal(s).filter(|n| (lo..=hi).contains(n)).ok_or(ConfigError::BadValue { key, reason }))
            .transpose()
    };
    let idle = num("protocol_idle_ms", idle, 1_000, 3_600_000, "expected 1000..=3600000")?;
    let max = num("protocol_max_ms", max, 1_000, 86_400_000, "expected 1000..=86400000")?;
    let batch = num("triple_batch", batch, 1, 64, "expected 1..=64")?;
    let tl = num("triples_low", tl, 1, 4096, "expected 1..=4096")?;
    let th = num("triples_high", th, 1, 4096, "expected 1..=4096")?;
    let pl = num("presignatures_low", pl, 1, 4096, "expected 1..=4096")?;
    let ph = num("presignatures_high", ph, 1, 4096, "expected 1..=4096")?;
    let max_age = num("request_max_age_blocks", max_age, 1, 100_000, "expected 1..=100000")?;
    // Pairs are checked against the defaults when only one side is given.
    let d = crate::machine::MachineConfig::new(String::new(), String::new());
    if max.unwrap_or(d.protocol_max_ms) < idle.unwrap_or(d.protocol_idle_ms) {
        return Err(ConfigError::BadValue { key: "protocol_max_ms", reason: "must be >= protocol_idle_ms" });
    }
    if th.unwrap_or(d.triples_high as u64) < tl.unwrap_or(d.triples_low as u64) {
        return Err(ConfigError::BadValue { key: "triples_high", reason: "must be >= triples_low" });
    }
    if ph.unwrap_or(d.presignatures_high as u64) < pl.unwrap_or(d.presignatures_low as u64) {
        return Err(ConfigError::BadValue { key: "presignatures_high", reason: "must be >= presignatures_low" });
    }
    // Ranges above fit usize on every target this builds for.
    let us = |v: Option<u64>| v.map(|n| n as usize);
    Ok(Tuning {
        protocol_idle_ms: idle,
        protocol_max_ms: max,
        triple_batch: us(batch),
        triples_low: us(tl),
        triples_high: us(th),
        presignatures_low: us(pl),
        presignatures_high: us(ph),
        request_max_age_blocks: max_age,
        attestation: None,
        view_quorum: None,
        contract_state: None,
    })
}

/// `contract_state`: `proven:INDEX/COUNT` (the contract's shard index in a layout of COUNT
/// shards; code hashes: the known 3.14 releases) or `unproven-views` (simulators only).
fn parse_contract_state(v: &str) -> Result<crate::machine::proven::ContractStateSource, ConfigError> {
    use crate::machine::proven::{ContractStateSource, StatePin};
    let bad = ConfigError::BadValue { key: "contract_state", reason: "expected proven:INDEX/COUNT (COUNT 1..=1024, INDEX < COUNT) or unproven-views" };
    if v == "unproven-views" {
        return Ok(ContractStateSource::UnprovenViews);
    }
    let (index, count) = v.strip_prefix("proven:").and_then(|r| r.split_once('/')).ok_or(bad.clone())?;
    let (index, count) = (parse_decimal(index).ok_or(bad.clone())?, parse_decimal(count).ok_or(bad.clone())?);
    if !(1..=tdsigner_near::chunk_roots::MAX_SHARDS as u64).contains(&count) || index >= count {
        return Err(bad);
    }
    Ok(ContractStateSource::Proven(StatePin { shard_index: index as usize, shard_count: count as usize, ..StatePin::default() }))
}

fn parse_key_source(s: &str) -> Result<KeySourceConfig, ConfigError> {
    let bad = |reason| ConfigError::BadValue { key: "key_source", reason };
    match s.split_once(':') {
        Some(("test", hex)) => {
            let bytes = hex.as_bytes();
            if bytes.len() != 64 {
                return Err(bad("test key must be 64 hex digits"));
            }
            let mut key = zeroize::Zeroizing::new([0u8; 32]);
            for (i, pair) in bytes.chunks_exact(2).enumerate() {
                let hi = hex_digit(pair[0]).ok_or(bad("test key must be 64 hex digits"))?;
                let lo = hex_digit(pair[1]).ok_or(bad("test key must be 64 hex digits"))?;
                key[i] = hi << 4 | lo;
            }
            Ok(KeySourceConfig::Test(key))
        }
        Some(("local-sgx", rest)) => parse_local_sgx(rest),
        _ => Err(bad("expected test:<64 hex digits> or local-sgx:HOST:PORT;mrenclave=...;collateral=...;tcb_eval_min=N")),
    }
}

/// The `;` fields of `local-sgx`, in the order they must appear.
const LOCAL_SGX_FIELDS: [&str; 4] = ["mrenclave", "collateral", "tcb_eval_min", "tcb_accept"];

/// `HOST:PORT;mrenclave=...;collateral=...;tcb_eval_min=N[;tcb_accept=...]`
/// (after `local-sgx:`; see the module docs).
fn parse_local_sgx(s: &str) -> Result<KeySourceConfig, ConfigError> {
    let bad = |reason| ConfigError::BadValue { key: "key_source", reason };
    let mut fields = s.split(';');
    // `split` yields at least one item.
    let endpoint = fields.next().unwrap_or("");
    let (host, port) = endpoint.rsplit_once(':').ok_or(bad("local-sgx provider must be HOST:PORT"))?;
    let port = parse_port(port).ok_or(bad("local-sgx provider port must be 1..=65535"))?;
    let host = parse_host(host).ok_or(bad("local-sgx provider host must be a DNS name or A.B.C.D"))?;

    // Each field fills its slot once, in order, so at most four are read
    // before an error: the loop is bounded by the field list, not the input.
    let mut values: [Option<&str>; LOCAL_SGX_FIELDS.len()] = [None; LOCAL_SGX_FIELDS.len()];
    let mut last: Option<usize> = None;
    for field in fields {
        let (name, value) = field.split_once('=').ok_or(bad("local-sgx fields must be name=value"))?;
        let slot = LOCAL_SGX_FIELDS
            .iter()
            .position(|f| *f == name)
            .ok_or(bad("unknown local-sgx field (expected mrenclave, collateral, tcb_eval_min, tcb_accept)"))?;
        if values[slot].is_some() {
            return Err(bad(
                ["local-sgx mrenclave given twice", "local-sgx collateral given twice", "local-sgx tcb_eval_min given twice", "local-sgx tcb_accept given twice"][slot],
            ));
        }
        if last.is_some_and(|l| l > slot) {
            return Err(bad("local-sgx fields out of order (expected mrenclave;collateral;tcb_eval_min[;tcb_accept])"));
        }
        values[slot] = Some(value);
        last = Some(slot);
    }
    let [mr_enclaves, collateral, tcb_eval_min, tcb_accept] = values;
    let mr_enclaves = parse_mr_enclaves(mr_enclaves.ok_or(bad("local-sgx needs mrenclave=<64 hex>[,...]"))?)?;
    let collateral = parse_http_resource(collateral.ok_or(bad("local-sgx needs collateral=HOST:PORT/PATH"))?)?;
    let min_tcb_evaluation_data_number = parse_decimal(tcb_eval_min.ok_or(bad("local-sgx needs tcb_eval_min=N"))?)
        .filter(|n| (1..=u32::MAX as u64).contains(n))
        .ok_or(bad("local-sgx tcb_eval_min must be decimal 1..=4294967295"))? as u32;
    let tcb_accept = match tcb_accept {
        None => TcbStatusSet::UP_TO_DATE_ONLY,
        Some(list) => parse_tcb_accept(list)?,
    };
    Ok(KeySourceConfig::LocalSgx {
        provider: Endpoint { host, port },
        mr_enclaves,
        collateral,
        min_tcb_evaluation_data_number,
        tcb_accept,
    })
}

/// `<64 hex>[,<64 hex>...]`: 1..=[`MAX_PINNED_ENCLAVES`] distinct values.
fn parse_mr_enclaves(list: &str) -> Result<alloc::vec::Vec<[u8; 32]>, ConfigError> {
    let bad = |reason| ConfigError::BadValue { key: "key_source", reason };
    let mut mr_enclaves: alloc::vec::Vec<[u8; 32]> = alloc::vec::Vec::new();
    for item in list.split(',') {
        if mr_enclaves.len() == MAX_PINNED_ENCLAVES {
            return Err(bad("local-sgx pins at most 8 mrenclave values"));
        }
        let bytes = item.as_bytes();
        if bytes.len() != 64 {
            return Err(bad("mrenclave must be 64 hex digits"));
        }
        let mut mr = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_digit(pair[0]).ok_or(bad("mrenclave must be 64 hex digits"))?;
            let lo = hex_digit(pair[1]).ok_or(bad("mrenclave must be 64 hex digits"))?;
            mr[i] = hi << 4 | lo;
        }
        if mr_enclaves.contains(&mr) {
            return Err(bad("mrenclave listed twice"));
        }
        mr_enclaves.push(mr);
    }
    Ok(mr_enclaves)
}

/// `HOST:PORT/PATH` (the `collateral` field).
fn parse_http_resource(s: &str) -> Result<HttpResource, ConfigError> {
    let bad = |reason| ConfigError::BadValue { key: "key_source", reason };
    // HOST and PORT hold no `/`, so the first one starts the path.
    let slash = s.find('/').ok_or(bad("local-sgx collateral must be HOST:PORT/PATH"))?;
    let (endpoint, path) = s.split_at(slash);
    let (host, port) = endpoint.rsplit_once(':').ok_or(bad("local-sgx collateral must be HOST:PORT/PATH"))?;
    let port = parse_port(port).ok_or(bad("local-sgx collateral port must be 1..=65535"))?;
    let host = parse_host(host).ok_or(bad("local-sgx collateral host must be a DNS name or A.B.C.D"))?;
    if path.len() > MAX_HTTP_PATH_LEN {
        return Err(bad("local-sgx collateral path longer than 256 bytes"));
    }
    if !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("local-sgx collateral path must be printable ASCII without spaces"));
    }
    Ok(HttpResource { endpoint: Endpoint { host, port }, path: String::from(path) })
}

/// Comma-separated TCB status names (the `tcb_accept` field).
fn parse_tcb_accept(list: &str) -> Result<TcbStatusSet, ConfigError> {
    let bad = |reason| ConfigError::BadValue { key: "key_source", reason };
    let mut set = TcbStatusSet::empty();
    // Duplicates are refused, so at most `TcbStatus::ALL.len()` names pass.
    for name in list.split(',') {
        let status = TcbStatus::from_name(name).ok_or(bad("local-sgx tcb_accept: unknown TCB status name"))?;
        if set.contains(status) {
            return Err(bad("local-sgx tcb_accept: status listed twice"));
        }
        set.insert(status).map_err(|_| bad("local-sgx tcb_accept: Revoked is never accepted"))?;
    }
    // A policy taking a worse status but refusing an up-to-date platform is a
    // mistake, not a stricter policy.
    if !set.contains(TcbStatus::UpToDate) {
        return Err(bad("local-sgx tcb_accept must include UpToDate"));
    }
    Ok(set)
}

fn parse_rpc_list(s: &str) -> Result<alloc::vec::Vec<RpcUrl>, ConfigError> {
    let bad = |reason| ConfigError::BadValue { key: "rpc", reason };
    let mut out = alloc::vec::Vec::new();
    for url in s.split(',') {
        if out.len() == MAX_RPC_ENDPOINTS {
            return Err(bad("at most 8 endpoints"));
        }
        let (tls, host, port, path) =
            tdsigner_near::rpc::http::split_url(url).ok_or(bad("expected http(s)://host[:port][/path]"))?;
        if port == 0 {
            return Err(bad("port must be 1..=65535"));
        }
        let host = parse_host(&host).ok_or(bad("host must be a DNS name or A.B.C.D"))?;
        if !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("path must be printable ASCII"));
        }
        if out.iter().any(|u: &RpcUrl| u.url == url) {
            return Err(bad("endpoint listed twice"));
        }
        out.push(RpcUrl { url: String::from(url), tls, host, port, path });
    }
    Ok(out)
}

fn decode_hex(s: &str) -> Option<alloc::vec::Vec<u8>> {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes.len() % 2 != 0 {
        return None;
    }
    bytes.chunks_exact(2).map(|p| Some(hex_digit(p[0])? << 4 | hex_digit(p[1])?)).collect()
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Longest DNS name accepted.
pub const MAX_HOST_LEN: usize = 253;

fn parse_endpoint(s: &str) -> Result<Endpoint, ConfigError> {
    let bad = |reason| ConfigError::BadValue { key: "probe", reason };
    let (host, port) = s.rsplit_once(':').ok_or(bad("expected HOST:PORT"))?;
    let port = parse_port(port).ok_or(bad("port must be 1..=65535"))?;
    let host = parse_host(host).ok_or(bad("host must be a DNS name or A.B.C.D"))?;
    Ok(Endpoint { host, port })
}

/// A TCP port, 1..=65535, in decimal.
fn parse_port(s: &str) -> Option<u16> {
    parse_decimal(s).filter(|p| (1..=u16::MAX as u64).contains(p)).map(|p| p as u16)
}

/// An IPv4 literal or a DNS name (see [`is_dns_name`]).
fn parse_host(s: &str) -> Option<Host> {
    if let Ok(addr) = s.parse::<Ipv4Addr>() {
        Some(Host::Ipv4(addr))
    } else if is_dns_name(s) {
        Some(Host::Name(String::from(s)))
    } else {
        None
    }
}

/// Letters, digits and hyphens in dot-separated labels of 1..=63 bytes, not
/// starting or ending with a hyphen, at most [`MAX_HOST_LEN`] bytes, not all
/// digits (so a mistyped address is not taken for a name).
pub fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_HOST_LEN
        && !s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_ipv4(key: &'static str, s: &str) -> Result<Ipv4Addr, ConfigError> {
    s.parse::<Ipv4Addr>().map_err(|_| ConfigError::BadValue { key, reason: "expected A.B.C.D" })
}

fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), ConfigError> {
    let (addr, prefix) = s
        .split_once('/')
        .ok_or(ConfigError::BadValue { key: "ip", reason: "expected A.B.C.D/PREFIX" })?;
    let address = parse_ipv4("ip", addr)?;
    let prefix_len = parse_decimal(prefix)
        .filter(|p| (1..=32).contains(p))
        .ok_or(ConfigError::BadValue { key: "ip", reason: "prefix must be 1..=32" })?
        as u8;
    Ok((address, prefix_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "account=node0.tdsigner.test key_source=test:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn parse(s: &str) -> Result<NodeConfig, ConfigError> {
        NodeConfig::parse(&alloc::format!("{s} {ID}"))
    }

    #[test]
    fn dhcp_minimal() {
        let c = parse("net=dhcp http=8080").unwrap();
        assert_eq!((c.net, c.dns, c.http_port, c.probe), (NetConfig::Dhcp, None, 8080, None));
        assert_eq!(c.account, "node0.tdsigner.test");
        let KeySourceConfig::Test(key) = &c.key_source else { panic!("test source expected") };
        assert_eq!(key[31], 0x1f);
        assert_eq!(alloc::format!("{:?}", c.key_source), "Test(<redacted>)");
    }

    #[test]
    fn allow_debug_is_off_unless_exactly_1() {
        assert!(!parse("net=dhcp http=80").unwrap().allow_debug);
        assert!(parse("net=dhcp http=80 allow_debug=1").unwrap().allow_debug);
        for bad in ["0", "true", "", "11"] {
            assert!(
                matches!(parse(&alloc::format!("net=dhcp http=80 allow_debug={bad}")), Err(ConfigError::BadValue { key: "allow_debug", .. })),
                "allow_debug={bad}"
            );
        }
    }

    #[test]
    fn static_full() {
        let c = parse("  net=static ip=10.0.2.15/24  gw=10.0.2.2 dns=10.0.2.3 http=1 ").unwrap();
        assert_eq!(
            c.net,
            NetConfig::Static {
                address: Ipv4Addr::new(10, 0, 2, 15),
                prefix_len: 24,
                gateway: Some(Ipv4Addr::new(10, 0, 2, 2))
            }
        );
        assert_eq!(c.dns, Some(Ipv4Addr::new(10, 0, 2, 3)));
        assert_eq!(c.http_port, 1);
    }

    #[test]
    fn refusals_name_the_problem() {
        use ConfigError::*;
        assert_eq!(NodeConfig::parse(""), Err(Empty));
        assert_eq!(NodeConfig::parse("   "), Err(Empty));
        assert_eq!(parse("http=80"), Err(MissingKey { key: "net" }));
        assert_eq!(parse("net=dhcp"), Err(MissingKey { key: "http" }));
        assert_eq!(NodeConfig::parse("net=dhcp http=80"), Err(MissingKey { key: "account" }));
        assert_eq!(
            NodeConfig::parse("net=dhcp http=80 account=a.test"),
            Err(MissingKey { key: "key_source" })
        );
        assert_eq!(parse("net=dhcp http=80 http=81"), Err(DuplicateKey { key: "http" }));
        assert_eq!(parse("net=static http=80"), Err(MissingKey { key: "ip" }));
        assert_eq!(parse("net=dhcp ip=1.2.3.4/8 http=80"), Err(StaticKeyWithDhcp { key: "ip" }));
        assert!(matches!(parse("net=dhcp http=0"), Err(BadValue { key: "http", .. })));
        assert!(matches!(parse("net=dhcp http=65536"), Err(BadValue { key: "http", .. })));
        assert!(matches!(parse("net=dhcp http=+80"), Err(BadValue { .. })));
        assert!(matches!(parse("net=static ip=1.2.3.4/33 http=80"), Err(BadValue { key: "ip", .. })));
        assert!(matches!(parse("net=static ip=1.2.3.256/8 http=80"), Err(BadValue { key: "ip", .. })));
        assert_eq!(parse("net=dhcp http=80 quiet"), Err(NotKeyValue { token_index: 2 }));
        assert_eq!(parse("net=dhcp\thttp=80"), Err(BadCharacter { offset: 8 }));
        for bad in ["account=UPPER.test", "account=a", "account=a..b"] {
            assert!(
                matches!(NodeConfig::parse(&alloc::format!("net=dhcp http=80 key_source=test:{} {bad}", "00".repeat(32))), Err(BadValue { key: "account", .. })),
                "{bad}"
            );
        }
        for bad in ["key_source=test:00", "key_source=test:zz", "key_source=other:x", "key_source=local-sgx:x"] {
            assert!(
                matches!(NodeConfig::parse(&alloc::format!("net=dhcp http=80 account=a.test {bad}")), Err(BadValue { key: "key_source", .. })),
                "{bad}"
            );
        }
        match parse("net=dhcp http=80 initrd=x") {
            Err(UnknownKey { key }) => assert_eq!(key.as_str(), "initrd"),
            other => panic!("{other:?}"),
        }
        let long = "a".repeat(MAX_CMDLINE_LEN + 1);
        assert_eq!(NodeConfig::parse(&long), Err(TooLong { len: MAX_CMDLINE_LEN + 1 }));
    }

    #[test]
    fn probe_endpoints() {
        let c = parse("net=dhcp http=80 probe=rpc.example-1.test:3030").unwrap();
        assert_eq!(c.probe, Some(Endpoint { host: Host::Name("rpc.example-1.test".into()), port: 3030 }));
        let c = parse("net=dhcp http=80 probe=10.0.2.2:9").unwrap();
        assert_eq!(c.probe, Some(Endpoint { host: Host::Ipv4(Ipv4Addr::new(10, 0, 2, 2)), port: 9 }));
        for bad in ["x", "host:", ":80", "host:0", "-a.b:1", "a..b:1", "1.2.3.999:1", "a_b:1", "h:70000"] {
            assert!(
                matches!(parse(&alloc::format!("net=dhcp http=80 probe={bad}")), Err(ConfigError::BadValue { key: "probe", .. })),
                "{bad} accepted"
            );
        }
        let long = alloc::format!("{}:1", "a.".repeat(127));
        assert!(parse(&alloc::format!("net=dhcp http=80 probe={long}")).is_err());
    }

    #[test]
    fn signer_mode() {
        let c = parse("net=dhcp http=80 contract=v1.signer-sim.test rpc=http://10.0.2.2:3030,https://rpc.example.test/x p2p=9000 trust=00ff").unwrap();
        let s = c.signer.unwrap();
        assert_eq!(s.contract, "v1.signer-sim.test");
        assert_eq!(s.rpc.len(), 2);
        assert_eq!((s.rpc[0].tls, s.rpc[0].port, s.rpc[0].path.as_str()), (false, 3030, "/"));
        assert_eq!(s.rpc[0].host, Host::Ipv4(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!((s.rpc[1].tls, s.rpc[1].port), (true, 443));
        assert_eq!(s.p2p_port, 9000);
        assert_eq!(s.trust, [0x00, 0xff]);
        assert!(parse("net=dhcp http=80").unwrap().signer.is_none());
        use ConfigError::*;
        assert_eq!(parse("net=dhcp http=80 contract=c.test"), Err(MissingKey { key: "rpc" }));
        assert_eq!(parse("net=dhcp http=80 rpc=http://a.test"), Err(MissingKey { key: "contract" }));
        for bad in [
            "contract=c.test rpc=ftp://x p2p=1 trust=00",
            "contract=c.test rpc=http://a.test,http://a.test p2p=1 trust=00",
            "contract=c.test rpc=http://a_b:1 p2p=1 trust=00",
            "contract=c.test rpc=http://a.test p2p=80 trust=00",
            "contract=c.test rpc=http://a.test p2p=9 trust=0",
            "contract=c.test rpc=http://a.test p2p=9 trust=zz",
            "contract=C rpc=http://a.test p2p=9 trust=00",
        ] {
            assert!(matches!(parse(&alloc::format!("net=dhcp http=80 {bad}")), Err(BadValue { .. })), "{bad}");
        }
    }

    #[test]
    fn tuning_keys() {
        let signer = "net=dhcp http=80 contract=c.test rpc=http://a.test p2p=9 trust=00";
        let s = parse(signer).unwrap().signer.unwrap();
        assert_eq!(s.tuning, Tuning::default());
        let c = parse(&alloc::format!(
            "{signer} protocol_idle_ms=120000 protocol_max_ms=1800000 triple_batch=2 triples_low=2 triples_high=4 presignatures_low=1 presignatures_high=2 request_max_age_blocks=600"
        ))
        .unwrap();
        let tuning = c.signer.unwrap().tuning;
        let mut m = crate::machine::MachineConfig::new("a.test".into(), "c.test".into());
        tuning.apply(&mut m);
        assert_eq!((m.protocol_idle_ms, m.protocol_max_ms, m.triple_batch), (120_000, 1_800_000, 2));
        assert_eq!((m.triples_low, m.triples_high, m.presignatures_low, m.presignatures_high), (2, 4, 1, 2));
        assert_eq!(m.request_max_age_blocks, 600);
        // Unset keys keep the defaults.
        let mut only_batch = crate::machine::MachineConfig::new("a.test".into(), "c.test".into());
        parse(&alloc::format!("{signer} triple_batch=3")).unwrap().signer.unwrap().tuning.apply(&mut only_batch);
        let defaults = crate::machine::MachineConfig::new("a.test".into(), "c.test".into());
        assert_eq!(only_batch, crate::machine::MachineConfig { triple_batch: 3, ..defaults });
        use ConfigError::*;
        for (bad, key) in [
            ("protocol_idle_ms=999", "protocol_idle_ms"),
            ("protocol_idle_ms=3600001", "protocol_idle_ms"),
            ("protocol_max_ms=x", "protocol_max_ms"),
            ("triple_batch=0", "triple_batch"),
            ("triple_batch=65", "triple_batch"),
            ("triples_low=5000", "triples_low"),
            ("protocol_idle_ms=60000 protocol_max_ms=30000", "protocol_max_ms"),
            // Checked against the default of the other side (30 s idle).
            ("protocol_max_ms=20000", "protocol_max_ms"),
            ("triples_low=8 triples_high=4", "triples_high"),
            ("presignatures_low=100", "presignatures_high"),
            ("request_max_age_blocks=0", "request_max_age_blocks"),
        ] {
            match parse(&alloc::format!("{signer} {bad}")) {
                Err(BadValue { key: k, .. }) => assert_eq!(k, key, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(parse(&alloc::format!("{signer} triple_batch=2 triple_batch=2")), Err(DuplicateKey { key: "triple_batch" }));
        // Without signer mode they would be ignored silently: refused instead.
        assert!(matches!(parse("net=dhcp http=80 triple_batch=2"), Err(BadValue { key: "contract", .. })));
    }

    #[test]
    fn view_quorum_and_contract_state_are_measured_keys() {
        use crate::machine::proven::{ContractStateSource, StatePin};
        let signer = |contract: &str| alloc::format!("net=dhcp http=80 contract={contract} rpc=http://a.test p2p=9 trust=00");
        let c = parse(&alloc::format!("{} view_quorum=1 contract_state=proven:3/9", signer("c.test"))).unwrap();
        assert!(c.canonical().ends_with("view_quorum=1 contract_state=proven:3/9"), "{}", c.canonical());
        let mut m = crate::machine::MachineConfig::new("a.test".into(), "c.test".into());
        c.signer.as_ref().unwrap().tuning.apply(&mut m);
        assert_eq!(m.contract_state, ContractStateSource::Proven(StatePin { shard_index: 3, shard_count: 9, ..StatePin::default() }));
        assert_eq!(m.view_quorum, 1);
        // On TDX the plain-HTTP endpoints never count toward views; emulated, they do.
        let two = parse("net=dhcp http=80 contract=c.test rpc=http://a.test,https://b.test p2p=9 trust=00 view_quorum=1").unwrap();
        let s = two.signer.unwrap();
        s.apply(&mut m, true);
        assert_eq!(m.views_exclude, alloc::vec![0]);
        s.apply(&mut m, false);
        assert!(m.views_exclude.is_empty());
        // The default is proven, shard 0 of 1.
        let d = crate::machine::MachineConfig::new("a.test".into(), "c.test".into());
        assert_eq!(d.contract_state, ContractStateSource::Proven(StatePin::default()));
        let u = parse(&alloc::format!("{} contract_state=unproven-views", signer("c.test"))).unwrap();
        assert_eq!(u.signer.unwrap().tuning.contract_state, Some(ContractStateSource::UnprovenViews));
        for (bad, key) in [
            ("contract_state=unproven-views", "contract_state"),
            ("contract_state=proven:9/9", "contract_state"),
            ("contract_state=proven:0/0", "contract_state"),
            ("contract_state=proven:1", "contract_state"),
            ("view_quorum=0", "view_quorum"),
            ("view_quorum=2", "view_quorum"),
        ] {
            let line = alloc::format!("{} {bad}", signer("v1.signer"));
            assert!(matches!(parse(&line), Err(ConfigError::BadValue { key: k, .. }) if k == key), "{bad}");
        }
    }

    #[test]
    fn attestation_mode_is_measured_config_and_mock_is_refused_for_mainnet() {
        use crate::machine::attestation::AttestationMode;
        let signer = |contract: &str| alloc::format!("net=dhcp http=80 contract={contract} rpc=http://a.test p2p=9 trust=00");
        let c = parse(&alloc::format!("{} attestation=mock-testnet", signer("v1.signer-prod.testnet"))).unwrap();
        let mut m = crate::machine::MachineConfig::new("a.test".into(), "v1.signer-prod.testnet".into());
        c.signer.unwrap().tuning.apply(&mut m);
        assert_eq!(m.attestation, AttestationMode::MockTestnet);
        let d = parse(&signer("v1.signer")).unwrap();
        assert_eq!(d.signer.unwrap().tuning.attestation, None);
        assert!(matches!(
            parse(&alloc::format!("{} attestation=mock-testnet", signer("v1.signer"))),
            Err(ConfigError::BadValue { key: "attestation", .. })
        ));
        assert!(matches!(parse(&alloc::format!("{} attestation=mock", signer("c.test"))), Err(ConfigError::BadValue { key: "attestation", .. })));
        assert!(matches!(parse("net=dhcp http=80 attestation=mock-testnet"), Err(ConfigError::BadValue { key: "contract", .. })));
    }

    /// The fields after the MRENCLAVE list that every good line needs.
    const SGX_TAIL: &str = "collateral=10.0.2.2:8081/sgx/collateral.json;tcb_eval_min=17";

    fn sgx(source: &str) -> Result<NodeConfig, ConfigError> {
        NodeConfig::parse(&alloc::format!("net=dhcp http=80 account=a.test key_source={source}"))
    }

    fn sgx_refusal(source: &str) -> &'static str {
        match sgx(source) {
            Err(ConfigError::BadValue { key: "key_source", reason }) => reason,
            other => panic!("{source}: {other:?}"),
        }
    }

    #[test]
    fn local_sgx_source() {
        let a = "ab".repeat(32);
        let b = "CD".repeat(32);
        let c = sgx(&alloc::format!("local-sgx:10.0.2.2:3443;mrenclave={a},{b};{SGX_TAIL}")).unwrap();
        let expected = KeySourceConfig::LocalSgx {
            provider: Endpoint { host: Host::Ipv4(Ipv4Addr::new(10, 0, 2, 2)), port: 3443 },
            mr_enclaves: alloc::vec![[0xab; 32], [0xcd; 32]],
            collateral: HttpResource {
                endpoint: Endpoint { host: Host::Ipv4(Ipv4Addr::new(10, 0, 2, 2)), port: 8081 },
                path: "/sgx/collateral.json".into(),
            },
            min_tcb_evaluation_data_number: 17,
            tcb_accept: TcbStatusSet::UP_TO_DATE_ONLY,
        };
        assert_eq!(c.key_source, expected);
        assert_eq!(
            alloc::format!("{:?}", c.key_source),
            "LocalSgx { provider: 10.0.2.2:3443, mr_enclaves: 2, collateral: 10.0.2.2:8081/sgx/collateral.json, tcb_eval_min: 17, tcb_accept: UpToDate }"
        );

        // Names for both hosts, the largest tcb_eval_min, an explicit accepted set.
        let c = sgx(&alloc::format!(
            "local-sgx:kp.host.test:1;mrenclave={a};collateral=pccs.host.test:65535/;tcb_eval_min=4294967295;tcb_accept=SWHardeningNeeded,UpToDate,OutOfDate"
        ))
        .unwrap();
        let KeySourceConfig::LocalSgx { provider, collateral, min_tcb_evaluation_data_number, tcb_accept, .. } = &c.key_source else {
            panic!("{:?}", c.key_source)
        };
        assert_eq!(provider.host, Host::Name("kp.host.test".into()));
        assert_eq!(*collateral, HttpResource { endpoint: Endpoint { host: Host::Name("pccs.host.test".into()), port: 65535 }, path: "/".into() });
        assert_eq!(*min_tcb_evaluation_data_number, u32::MAX);
        let mut want = TcbStatusSet::empty();
        for s in [TcbStatus::UpToDate, TcbStatus::SwHardeningNeeded, TcbStatus::OutOfDate] {
            want.insert(s).unwrap();
        }
        assert_eq!(*tcb_accept, want);
        // Every status but Revoked may be accepted; a 256-byte path is the limit.
        let all = "UpToDate,SWHardeningNeeded,ConfigurationNeeded,ConfigurationAndSWHardeningNeeded,OutOfDate,OutOfDateConfigurationNeeded";
        let path = alloc::format!("/{}", "p".repeat(MAX_HTTP_PATH_LEN - 1));
        let c = sgx(&alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:80{path};tcb_eval_min=1;tcb_accept={all}")).unwrap();
        let KeySourceConfig::LocalSgx { collateral, tcb_accept, .. } = &c.key_source else { panic!() };
        assert_eq!(collateral.path, path);
        assert_eq!(tcb_accept.iter().count(), 6);
    }

    #[test]
    fn local_sgx_refusals_name_the_field() {
        let a = "ab".repeat(32);
        let t = SGX_TAIL;
        let nine = (0..9).map(|i| alloc::format!("{i:064x}")).collect::<alloc::vec::Vec<_>>().join(",");
        let long_path = alloc::format!("/{}", "p".repeat(MAX_HTTP_PATH_LEN));
        let cases: &[(alloc::string::String, &str)] = &[
            // The provider endpoint.
            ("local-sgx:10.0.2.2:3443".into(), "local-sgx needs mrenclave"),
            (alloc::format!("local-sgx:10.0.2.2;mrenclave={a};{t}"), "provider must be HOST:PORT"),
            (alloc::format!("local-sgx:10.0.2.2:0;mrenclave={a};{t}"), "provider port"),
            (alloc::format!("local-sgx:10.0.2.2:65536;mrenclave={a};{t}"), "provider port"),
            (alloc::format!("local-sgx:a_b:1;mrenclave={a};{t}"), "provider host"),
            (alloc::format!("local-sgx::1;mrenclave={a};{t}"), "provider host"),
            // mrenclave.
            (alloc::format!("local-sgx:h.test:1;mrenclave=;{t}"), "mrenclave must be 64 hex"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a},;{t}"), "mrenclave must be 64 hex"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a},{a};{t}"), "mrenclave listed twice"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={};{t}", &a[..62]), "mrenclave must be 64 hex"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={}zz;{t}", &a[..62]), "mrenclave must be 64 hex"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={nine};{t}"), "at most 8"),
            (alloc::format!("local-sgx:h.test:1;mrsigner={a};{t}"), "unknown local-sgx field"),
            // Missing fields.
            (alloc::format!("local-sgx:h.test:1;{t}"), "local-sgx needs mrenclave"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a}"), "local-sgx needs collateral"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};tcb_eval_min=1"), "local-sgx needs collateral"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:1/x"), "local-sgx needs tcb_eval_min"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:1/x;tcb_accept=UpToDate"), "local-sgx needs tcb_eval_min"),
            // Duplicates.
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};mrenclave={a};{t}"), "mrenclave given twice"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:1/x;{t}"), "collateral given twice"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};{t};tcb_eval_min=2"), "tcb_eval_min given twice"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};{t};tcb_accept=UpToDate;tcb_accept=UpToDate"), "tcb_accept given twice"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};{t};mrenclave={a}"), "mrenclave given twice"),
            // Out of order.
            (alloc::format!("local-sgx:h.test:1;collateral=c.test:1/x;mrenclave={a};tcb_eval_min=1"), "out of order"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};tcb_eval_min=1;collateral=c.test:1/x"), "out of order"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:1/x;tcb_accept=UpToDate;tcb_eval_min=1"), "out of order"),
            // Shape of a field.
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};{t};"), "name=value"),
            (alloc::format!("local-sgx:h.test:1;;mrenclave={a};{t}"), "name=value"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};{t};tcb_accept"), "name=value"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};{t};tcb_eval=1"), "unknown local-sgx field"),
            // collateral.
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:80;tcb_eval_min=1"), "collateral must be HOST:PORT/PATH"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test/x;tcb_eval_min=1"), "collateral must be HOST:PORT/PATH"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=/x;tcb_eval_min=1"), "collateral must be HOST:PORT/PATH"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:0/x;tcb_eval_min=1"), "collateral port"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:/x;tcb_eval_min=1"), "collateral port"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:99999/x;tcb_eval_min=1"), "collateral port"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c_d:80/x;tcb_eval_min=1"), "collateral host"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=1.2.3.999:80/x;tcb_eval_min=1"), "collateral host"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=:80/x;tcb_eval_min=1"), "collateral host"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=http://c.test:80/x;tcb_eval_min=1"), "collateral port"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:80{long_path};tcb_eval_min=1"), "longer than 256"),
            // tcb_eval_min.
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:1/x;tcb_eval_min=0"), "tcb_eval_min must be"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:1/x;tcb_eval_min=4294967296"), "tcb_eval_min must be"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:1/x;tcb_eval_min="), "tcb_eval_min must be"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:1/x;tcb_eval_min=-1"), "tcb_eval_min must be"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:1/x;tcb_eval_min=0x10"), "tcb_eval_min must be"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:1/x;tcb_eval_min=99999999999"), "tcb_eval_min must be"),
            // tcb_accept.
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};{t};tcb_accept="), "unknown TCB status"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};{t};tcb_accept=UpToDate,"), "unknown TCB status"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};{t};tcb_accept=uptodate"), "unknown TCB status"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};{t};tcb_accept=UpToDate,SwHardeningNeeded"), "unknown TCB status"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};{t};tcb_accept=UpToDate,UpToDate"), "listed twice"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};{t};tcb_accept=UpToDate,Revoked"), "Revoked is never accepted"),
            (alloc::format!("local-sgx:h.test:1;mrenclave={a};{t};tcb_accept=SWHardeningNeeded"), "must include UpToDate"),
        ];
        for (source, expected) in cases {
            let reason = sgx_refusal(source);
            assert!(reason.contains(expected), "{source}: got `{reason}`, expected `{expected}`");
        }
        // Checked in the field parser too, not only by the line's tokeniser.
        for path in ["/a b", "/a\tb", "/\u{e9}"] {
            assert!(parse_http_resource(&alloc::format!("c.test:1{path}")).is_err(), "{path:?}");
        }
        // A space in the path ends the token: the rest is an unknown key, never part of
        // the path (other non-printables never get past the line check).
        assert!(matches!(
            sgx(&alloc::format!("local-sgx:h.test:1;mrenclave={a};collateral=c.test:1/a b;tcb_eval_min=1")),
            Err(ConfigError::UnknownKey { .. })
        ));
    }

    #[test]
    fn canonical_form_parses_back_and_ignores_spelling() {
        let a = "ab".repeat(32);
        let b = "CD".repeat(32);
        let spelled = [
            alloc::format!("  http=08080   net=dhcp {ID}"),
            alloc::format!(
                "net=static gw=10.0.2.2 ip=10.0.2.15/24 dns=10.0.2.3 http=80 probe=rpc.example.test:443 account=n.test \
                 key_source=local-sgx:10.0.2.2:3443;mrenclave={a},{b};collateral=10.0.2.2:8081/c.json;tcb_eval_min=017 \
                 trust=00FF p2p=9000 rpc=http://10.0.2.2:3030,https://rpc.example.test/x contract=c.test triple_batch=04 \
                 attestation=mock-testnet allow_debug=1"
            ),
        ];
        for line in &spelled {
            let c = NodeConfig::parse(line).unwrap();
            let canonical = c.canonical();
            assert_eq!(NodeConfig::parse(&canonical).unwrap(), c, "{canonical}");
            assert_eq!(NodeConfig::parse(&canonical).unwrap().canonical(), canonical);
            assert!(!canonical.contains("  ") && !canonical.starts_with(' '));
        }
        assert_eq!(
            NodeConfig::parse(&spelled[0]).unwrap().canonical(),
            alloc::format!("net=dhcp http=8080 {ID}")
        );
        let full = NodeConfig::parse(&spelled[1]).unwrap().canonical();
        assert_eq!(
            full,
            alloc::format!(
                "net=static ip=10.0.2.15/24 gw=10.0.2.2 dns=10.0.2.3 http=80 probe=rpc.example.test:443 account=n.test \
                 key_source=local-sgx:10.0.2.2:3443;mrenclave={a},{};collateral=10.0.2.2:8081/c.json;tcb_eval_min=17;tcb_accept=UpToDate \
                 contract=c.test rpc=http://10.0.2.2:3030,https://rpc.example.test/x p2p=9000 trust=00ff triple_batch=4 \
                 attestation=mock-testnet allow_debug=1",
                "cd".repeat(32)
            )
        );
    }

    #[test]
    fn policy_holds_the_network_values_and_nothing_per_node() {
        let a = "ab".repeat(32);
        let node = |account: &str, http: u16, provider: &str| {
            NodeConfig::parse(&alloc::format!(
                "net=dhcp http={http} account={account} key_source=local-sgx:{provider};mrenclave={a};collateral={provider}/c.json;\
                 tcb_eval_min=17;tcb_accept=UpToDate,SWHardeningNeeded contract=c.test rpc=https://rpc.example.test p2p=9000 trust=00ff"
            ))
            .unwrap()
        };
        let one = node("n1.test", 80, "10.0.2.2:3443");
        let two = node("n2.test", 81, "10.0.2.9:4443");
        assert_ne!(one.canonical(), two.canonical());
        assert_eq!(one.policy_payload("0.1.0"), two.policy_payload("0.1.0"));
        use sha2::Digest;
        let trust_sha = tdsigner_measure::hex::encode(&sha2::Sha256::digest([0x00, 0xff]));
        assert_eq!(
            one.policy_payload("0.1.0"),
            alloc::format!(
                "tdsigner-policy=1\nimage_version=0.1.0\ncontract=c.test\ntrust_anchor_sha256={trust_sha}\nkey_source=local-sgx\n\
                 mrenclave={a}\ntcb_eval_min=17\ntcb_accept=UpToDate,SWHardeningNeeded\nrpc=https://rpc.example.test\n"
            )
        );
        assert_ne!(one.policy_payload("0.1.0"), one.policy_payload("0.1.1"));
        let test_key = parse("net=dhcp http=80").unwrap();
        assert!(test_key.policy_payload("0.1.0").contains("\nkey_source=test\nmrenclave=-\n"));
        assert!(!test_key.policy_payload("0.1.0").contains("0102030405"), "the test key is not policy");
    }

    #[test]
    fn long_unknown_key_is_truncated_in_error() {
        let key = "k".repeat(100);
        match NodeConfig::parse(&alloc::format!("{key}=1")) {
            Err(ConfigError::UnknownKey { key }) => assert_eq!(key.as_str().len(), 32),
            other => panic!("{other:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = NodeConfig::parse(&s);
        }

        #[test]
        fn never_panics_on_key_value_soup(
            toks in proptest::collection::vec("(net|ip|gw|dns|http|x)=[0-9a-z./]{0,20}", 0..10)
        ) {
            let _ = NodeConfig::parse(&toks.join(" "));
        }
    }
}
