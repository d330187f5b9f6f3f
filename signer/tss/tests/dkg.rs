mod common;
use common::*;

#[test]
fn keygen_agrees_on_key() {
    let shares = keygen(5, 3, 1);
    let pk = shares[0].public_key();
    assert!(shares.iter().all(|s| s.public_key() == pk && s.sharing_id() == shares[0].sharing_id()));
}
