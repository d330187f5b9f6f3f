//! Collateral: what Intel's PCS/PCCS serves for one SGX platform (CRLs, TCB
//! info, QE identity, their issuer chains and signatures), in the JSON shape
//! dcap-qvl's `QuoteCollateralV3` serialises to (DER and signatures as hex), and
//! the two signed JSON documents inside it. Comes from the host: every field is
//! bounded and checked; nothing here is trusted before [`super::verify_sgx_quote`]
//! has checked its signature.

use alloc::string::String;
use alloc::vec::Vec;

use serde::Deserialize;

use super::status::TcbStatus;
use super::DcapError;
use crate::hex;

/// Largest collateral JSON accepted (Intel's is about 14 KiB).
pub const MAX_COLLATERAL_LEN: usize = 256 * 1024;
/// Most TCB levels in a TCB info or QE identity.
pub const MAX_TCB_LEVELS: usize = 256;

/// The collateral for one SGX quote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collateral {
    /// PEM: PCK CA, root (the issuer of `pck_crl`). Not used by the verifier: the PCK
    /// CRL is checked against the PCK CA in the quote's own chain.
    pub pck_crl_issuer_chain: String,
    /// DER CRL of the root CA.
    pub root_ca_crl: Vec<u8>,
    /// DER CRL of the PCK CA.
    pub pck_crl: Vec<u8>,
    /// PEM: TCB signing certificate, root.
    pub tcb_info_issuer_chain: String,
    /// The signed TCB info JSON, exactly as signed.
    pub tcb_info: String,
    /// Raw `r ‖ s` over `tcb_info`.
    pub tcb_info_signature: Vec<u8>,
    /// PEM: TCB signing certificate, root.
    pub qe_identity_issuer_chain: String,
    /// The signed QE identity JSON, exactly as signed.
    pub qe_identity: String,
    /// Raw `r ‖ s` over `qe_identity`.
    pub qe_identity_signature: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CollateralJson {
    pck_crl_issuer_chain: String,
    root_ca_crl: String,
    pck_crl: String,
    tcb_info_issuer_chain: String,
    tcb_info: String,
    tcb_info_signature: String,
    qe_identity_issuer_chain: String,
    qe_identity: String,
    qe_identity_signature: String,
    // dcap-qvl's optional copy of the PCK chain; the image uses the quote's.
    #[serde(default)]
    #[allow(dead_code)]
    pck_certificate_chain: Option<String>,
}

/// Parses collateral JSON (dcap-qvl's `QuoteCollateralV3` shape).
pub fn parse_collateral_json(bytes: &[u8]) -> Result<Collateral, DcapError> {
    if bytes.len() > MAX_COLLATERAL_LEN {
        return Err(DcapError::Collateral("longer than 256 KiB"));
    }
    let json: CollateralJson =
        serde_json::from_slice(bytes).map_err(|_| DcapError::Collateral("not the collateral JSON shape"))?;
    let unhex = |s: &str, what: &'static str| hex::decode(s).map_err(|_| DcapError::Collateral(what));
    Ok(Collateral {
        root_ca_crl: unhex(&json.root_ca_crl, "root_ca_crl is not hex")?,
        pck_crl: unhex(&json.pck_crl, "pck_crl is not hex")?,
        tcb_info_signature: unhex(&json.tcb_info_signature, "tcb_info_signature is not hex")?,
        qe_identity_signature: unhex(&json.qe_identity_signature, "qe_identity_signature is not hex")?,
        pck_crl_issuer_chain: json.pck_crl_issuer_chain,
        tcb_info_issuer_chain: json.tcb_info_issuer_chain,
        tcb_info: json.tcb_info,
        qe_identity_issuer_chain: json.qe_identity_issuer_chain,
        qe_identity: json.qe_identity,
    })
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (UTC, the form Intel's collateral uses) to
/// Unix seconds.
pub fn parse_utc(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 20 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') || b.get(19) != Some(&b'Z') {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<u64> {
        let digits = text.get(from..from + len)?;
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if day < 1 || day > *month_days.get(usize::try_from(month - 1).ok()?)? {
        return None;
    }
    // Days from 1970-01-01 (civil-from-days inverse, Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

fn status_from_json<'de, D: serde::Deserializer<'de>>(d: D) -> Result<TcbStatus, D::Error> {
    let name = String::deserialize(d)?;
    TcbStatus::from_name(&name).ok_or_else(|| serde::de::Error::custom("unknown tcbStatus"))
}

#[derive(Deserialize)]
struct SvnJson {
    svn: u8,
}

#[derive(Deserialize)]
struct SgxTcbJson {
    sgxtcbcomponents: Vec<SvnJson>,
    pcesvn: u16,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SgxTcbLevelJson {
    tcb: SgxTcbJson,
    #[serde(deserialize_with = "status_from_json")]
    tcb_status: TcbStatus,
    #[serde(rename = "advisoryIDs", default)]
    advisory_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TcbInfoJson {
    id: String,
    version: u32,
    issue_date: String,
    next_update: String,
    fmspc: String,
    pce_id: String,
    tcb_type: u32,
    tcb_evaluation_data_number: u32,
    tcb_levels: Vec<SgxTcbLevelJson>,
}

/// One platform TCB level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcbLevel {
    pub cpu_svn: [u8; 16],
    pub pce_svn: u16,
    pub status: TcbStatus,
    pub advisory_ids: Vec<String>,
}

/// The SGX TCB info (`id` "SGX", version 3), decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcbInfo {
    pub issue_date: u64,
    pub next_update: u64,
    pub fmspc: [u8; 6],
    pub pce_id: [u8; 2],
    pub tcb_evaluation_data_number: u32,
    pub levels: Vec<TcbLevel>,
}

/// Decodes the signed TCB info text.
pub fn parse_tcb_info(text: &str) -> Result<TcbInfo, DcapError> {
    let bad = DcapError::TcbInfo;
    let json: TcbInfoJson = serde_json::from_str(text).map_err(|_| bad("not the SGX TCB info JSON shape"))?;
    if json.id != "SGX" || json.version != 3 {
        return Err(bad("not an SGX TCB info version 3"));
    }
    // Type 0 is the only TCB type whose levels compare the 16 CPUSVN components this way.
    if json.tcb_type != 0 {
        return Err(bad("tcbType is not 0"));
    }
    if json.tcb_levels.is_empty() || json.tcb_levels.len() > MAX_TCB_LEVELS {
        return Err(bad("TCB level count out of range"));
    }
    let mut levels = Vec::with_capacity(json.tcb_levels.len());
    for level in json.tcb_levels {
        let svns: Vec<u8> = level.tcb.sgxtcbcomponents.iter().map(|c| c.svn).collect();
        let cpu_svn: [u8; 16] = svns.try_into().map_err(|_| bad("a TCB level has not 16 SGX components"))?;
        levels.push(TcbLevel { cpu_svn, pce_svn: level.tcb.pcesvn, status: level.tcb_status, advisory_ids: level.advisory_ids });
    }
    Ok(TcbInfo {
        issue_date: parse_utc(&json.issue_date).ok_or(bad("issueDate is not YYYY-MM-DDTHH:MM:SSZ"))?,
        next_update: parse_utc(&json.next_update).ok_or(bad("nextUpdate is not YYYY-MM-DDTHH:MM:SSZ"))?,
        fmspc: hex::decode_array(&json.fmspc).map_err(|_| bad("fmspc is not 6 hex bytes"))?,
        pce_id: hex::decode_array(&json.pce_id).map_err(|_| bad("pceId is not 2 hex bytes"))?,
        tcb_evaluation_data_number: json.tcb_evaluation_data_number,
        levels,
    })
}

#[derive(Deserialize)]
struct QeTcbJson {
    isvsvn: u16,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QeTcbLevelJson {
    tcb: QeTcbJson,
    #[serde(deserialize_with = "status_from_json")]
    tcb_status: TcbStatus,
    #[serde(rename = "advisoryIDs", default)]
    advisory_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QeIdentityJson {
    id: String,
    version: u32,
    issue_date: String,
    next_update: String,
    tcb_evaluation_data_number: u32,
    miscselect: String,
    miscselect_mask: String,
    attributes: String,
    attributes_mask: String,
    mrsigner: String,
    isvprodid: u16,
    tcb_levels: Vec<QeTcbLevelJson>,
}

/// One QE TCB level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QeTcbLevel {
    pub isv_svn: u16,
    pub status: TcbStatus,
    pub advisory_ids: Vec<String>,
}

/// The SGX quoting enclave's identity (`id` "QE", version 2), decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QeIdentity {
    pub issue_date: u64,
    pub next_update: u64,
    pub tcb_evaluation_data_number: u32,
    pub miscselect: u32,
    pub miscselect_mask: u32,
    pub attributes: [u8; 16],
    pub attributes_mask: [u8; 16],
    pub mr_signer: [u8; 32],
    pub isv_prod_id: u16,
    pub levels: Vec<QeTcbLevel>,
}

/// Decodes the signed QE identity text.
pub fn parse_qe_identity(text: &str) -> Result<QeIdentity, DcapError> {
    let bad = DcapError::QeIdentity;
    let json: QeIdentityJson = serde_json::from_str(text).map_err(|_| bad("not the QE identity JSON shape"))?;
    if json.id != "QE" || json.version != 2 {
        return Err(bad("not an SGX QE identity version 2"));
    }
    if json.tcb_levels.is_empty() || json.tcb_levels.len() > MAX_TCB_LEVELS {
        return Err(bad("TCB level count out of range"));
    }
    // MISCSELECT is written as the 4 bytes of the report field (little-endian u32).
    let misc = |s: &str| hex::decode_array::<4>(s).map(u32::from_le_bytes).map_err(|_| bad("miscselect is not 4 hex bytes"));
    Ok(QeIdentity {
        issue_date: parse_utc(&json.issue_date).ok_or(bad("issueDate is not YYYY-MM-DDTHH:MM:SSZ"))?,
        next_update: parse_utc(&json.next_update).ok_or(bad("nextUpdate is not YYYY-MM-DDTHH:MM:SSZ"))?,
        tcb_evaluation_data_number: json.tcb_evaluation_data_number,
        miscselect: misc(&json.miscselect)?,
        miscselect_mask: misc(&json.miscselect_mask)?,
        attributes: hex::decode_array(&json.attributes).map_err(|_| bad("attributes is not 16 hex bytes"))?,
        attributes_mask: hex::decode_array(&json.attributes_mask).map_err(|_| bad("attributesMask is not 16 hex bytes"))?,
        mr_signer: hex::decode_array(&json.mrsigner).map_err(|_| bad("mrsigner is not 32 hex bytes"))?,
        isv_prod_id: json.isvprodid,
        levels: json
            .tcb_levels
            .into_iter()
            .map(|l| QeTcbLevel { isv_svn: l.tcb.isvsvn, status: l.tcb_status, advisory_ids: l.advisory_ids })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc("2025-06-19T10:56:11Z"), Some(1_750_330_571));
        assert_eq!(parse_utc("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in ["2023-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "2025-06-19T24:00:00Z", "2025-06-19 10:56:11Z", "2025-06-19T10:56:11", "2025-06-19T10:56:11.5Z", "+025-06-19T10:56:11Z", "1969-12-31T23:59:59Z"] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }
}
