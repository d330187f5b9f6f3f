//! The cryptographic host functions, on maintained crates: ed25519-dalek,
//! k256 (secp256k1 public-key recovery), and zkcrypto's bls12_381 (the
//! ZCash point encoding nearcore's blst-based functions use as well).
//! Return conventions are nearcore's (see each function).

use bls12_381::{G1Affine, G2Affine, G2Prepared, Gt};
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};

use super::host::HostError;

/// 1 valid / 0 invalid; wrong lengths are errors (nearcore's
/// `Ed25519VerifyInvalidInput`). Like nearcore, a signature whose last byte
/// has any of its top three bits set is invalid without further checks.
pub fn ed25519_verify(sig: &[u8], msg: &[u8], pk: &[u8]) -> Result<bool, HostError> {
    let sig: &[u8; 64] =
        sig.try_into().map_err(|_| HostError::Ed25519VerifyInvalidInput { msg: "invalid signature length" })?;
    let pk: &[u8; 32] =
        pk.try_into().map_err(|_| HostError::Ed25519VerifyInvalidInput { msg: "invalid public key length" })?;
    if sig[63] & 0b1110_0000 != 0 {
        return Ok(false);
    }
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(pk) else {
        return Ok(false);
    };
    let sig = ed25519_dalek::Signature::from_bytes(sig);
    Ok(ed25519_dalek::Verifier::verify(&key, msg, &sig).is_ok())
}

/// secp256k1 public-key recovery: `Some(x‖y)` (64 bytes) or `None` (0).
/// `v` must be 0..=3, `malleability_flag` 0 or 1 (1 rejects high-s), the
/// hash 32 bytes and the signature `r‖s` 64 bytes; otherwise an error.
pub fn ecrecover(hash: &[u8], sig: &[u8], v: u64, malleability_flag: u64) -> Result<Option<[u8; 64]>, HostError> {
    if sig.len() != 64 {
        return Err(HostError::ECRecoverError { msg: format!("signature length {} is not 64", sig.len()) });
    }
    if v >= 4 {
        return Err(HostError::ECRecoverError {
            msg: format!("V recovery byte 0 through 3 are valid but was provided {v}"),
        });
    }
    if hash.len() != 32 {
        return Err(HostError::ECRecoverError { msg: format!("hash length {} is not 32", hash.len()) });
    }
    if malleability_flag > 1 {
        return Err(HostError::ECRecoverError {
            msg: format!("Malleability flag needs to be 0 or 1, but is instead {malleability_flag}"),
        });
    }
    let Ok(signature) = Signature::from_slice(sig) else {
        return Ok(None);
    };
    let mut v = v as u8;
    // k256 recovers only low-s signatures; (r, -s) with the parity bit of v
    // flipped recovers the same key, so a high s is normalised when allowed.
    let signature = match signature.normalize_s() {
        Some(_) if malleability_flag == 1 => return Ok(None),
        Some(low) => {
            v ^= 1;
            low
        }
        None => signature,
    };
    let Some(recovery_id) = RecoveryId::from_byte(v) else {
        return Ok(None);
    };
    let Ok(key) = VerifyingKey::recover_from_prehash(hash, &signature, recovery_id) else {
        return Ok(None);
    };
    let point = key.to_encoded_point(false);
    let mut out = [0u8; 64];
    out.copy_from_slice(&point.as_bytes()[1..]);
    Ok(Some(out))
}

/// Compressed G1 points (48 bytes each) to uncompressed (96 bytes each);
/// `None` if one is not a valid curve point. Length not a multiple of 48 is
/// an error.
pub fn bls_p1_decompress(data: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
    if data.len() % 48 != 0 {
        return Err(HostError::Bls12381InvalidInput);
    }
    let mut out = Vec::with_capacity(data.len() * 2);
    for chunk in data.chunks_exact(48) {
        let mut bytes = [0u8; 48];
        bytes.copy_from_slice(chunk);
        let Some(point) = Option::<G1Affine>::from(G1Affine::from_compressed_unchecked(&bytes)) else {
            return Ok(None);
        };
        out.extend_from_slice(&point.to_uncompressed());
    }
    Ok(Some(out))
}

/// Compressed G2 points (96 bytes each) to uncompressed (192 bytes each).
pub fn bls_p2_decompress(data: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
    if data.len() % 96 != 0 {
        return Err(HostError::Bls12381InvalidInput);
    }
    let mut out = Vec::with_capacity(data.len() * 2);
    for chunk in data.chunks_exact(96) {
        let mut bytes = [0u8; 96];
        bytes.copy_from_slice(chunk);
        let Some(point) = Option::<G2Affine>::from(G2Affine::from_compressed_unchecked(&bytes)) else {
            return Ok(None);
        };
        out.extend_from_slice(&point.to_uncompressed());
    }
    Ok(Some(out))
}

/// Pairs of uncompressed (G1 96 bytes, G2 192 bytes): 0 if the product of
/// pairings is the identity, 2 if not, 1 if a point is invalid or outside
/// its prime-order subgroup. Length not a multiple of 288 is an error.
pub fn bls_pairing_check(data: &[u8]) -> Result<u64, HostError> {
    if data.len() % 288 != 0 {
        return Err(HostError::Bls12381InvalidInput);
    }
    let mut pairs = Vec::with_capacity(data.len() / 288);
    for item in data.chunks_exact(288) {
        let mut g1 = [0u8; 96];
        g1.copy_from_slice(&item[..96]);
        let mut g2 = [0u8; 192];
        g2.copy_from_slice(&item[96..]);
        let p = Option::<G1Affine>::from(G1Affine::from_uncompressed(&g1));
        let q = Option::<G2Affine>::from(G2Affine::from_uncompressed(&g2));
        let (Some(p), Some(q)) = (p, q) else {
            return Ok(1);
        };
        pairs.push((p, G2Prepared::from(q)));
    }
    let terms: Vec<(&G1Affine, &G2Prepared)> = pairs.iter().map(|(p, q)| (p, q)).collect();
    let product = bls12_381::multi_miller_loop(&terms).final_exponentiation();
    Ok(if product == Gt::identity() { 0 } else { 2 })
}
