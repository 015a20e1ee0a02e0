//! EIP-712 epoch proof quotes. A prover offers to prove an epoch by signing an
//! `EpochProofQuote` (epoch, validity, bond, fee share, prover address) under the Rollup's
//! domain; the sequencer collects quotes and submits the one it picks to
//! `claimEpochProofRight`, where the Rollup recovers the signer and requires it to be the
//! quote's prover. Anyone can check a quote the same way with [`recover_quote_signer`]
//! before relaying it.
//!
//! The struct hash comes from alloy's `sol!` type (`eip712_signing_hash`), the same type
//! string as `EpochProofQuoteLib.sol`; a test compares it with `Rollup.quoteToDigest`.

use crate::bindings::Rollup::{EpochProofQuote, Signature, SignedEpochProofQuote};
use crate::error::L1Error;
use alloy::primitives::{Address, B256, U256};
use alloy::signers::Signer;
use alloy::sol_types::{eip712_domain, Eip712Domain, SolStruct};

/// EIP-712 domain name of quotes (`Rollup.EIP712_NAME`).
pub const DOMAIN_NAME: &str = "provemesh Rollup";
/// EIP-712 domain version of quotes (`Rollup.EIP712_VERSION`).
pub const DOMAIN_VERSION: &str = "1";

/// The domain quotes for the Rollup at `rollup` on chain `chain_id` are signed under.
pub fn quote_domain(chain_id: u64, rollup: Address) -> Eip712Domain {
    eip712_domain! {
        name: DOMAIN_NAME,
        version: DOMAIN_VERSION,
        chain_id: chain_id,
        verifying_contract: rollup,
    }
}

/// The digest a prover signs (`Rollup.quoteToDigest`).
pub fn quote_digest(quote: &EpochProofQuote, domain: &Eip712Domain) -> B256 {
    quote.eip712_signing_hash(domain)
}

/// Signs `quote` with the prover's `signer`. The quote's `prover` should be the signer's
/// address, or the Rollup rejects it.
pub async fn sign_quote<S: Signer + Sync>(
    signer: &S,
    quote: EpochProofQuote,
    domain: &Eip712Domain,
) -> Result<SignedEpochProofQuote, L1Error> {
    let epoch = quote.epochToProve.saturating_to::<u64>();
    let sig = signer
        .sign_hash(&quote_digest(&quote, domain))
        .await
        .map_err(|source| L1Error::Sign { epoch, source })?;
    Ok(SignedEpochProofQuote {
        quote,
        signature: Signature {
            v: 27 + u8::from(sig.v()),
            r: B256::from(sig.r()),
            s: B256::from(sig.s()),
        },
    })
}

/// The address that signed `signed` under `domain` (compare it with `quote.prover`).
pub fn recover_quote_signer(
    signed: &SignedEpochProofQuote,
    domain: &Eip712Domain,
) -> Result<Address, L1Error> {
    let epoch = signed.quote.epochToProve.saturating_to::<u64>();
    let bad = |reason: String| L1Error::BadSignature { epoch, reason };
    let parity = match signed.signature.v {
        27 => false,
        28 => true,
        v => return Err(bad(format!("v is {v}, not 27 or 28"))),
    };
    let sig = alloy::primitives::Signature::new(
        U256::from_be_bytes(signed.signature.r.0),
        U256::from_be_bytes(signed.signature.s.0),
        parity,
    );
    sig.recover_address_from_prehash(&quote_digest(&signed.quote, domain))
        .map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::signers::local::PrivateKeySigner;

    fn quote(prover: Address) -> EpochProofQuote {
        EpochProofQuote {
            epochToProve: U256::from(3),
            validUntilSlot: U256::from(40),
            bondAmount: U256::from(1000),
            basisPointFee: 250,
            prover,
        }
    }

    #[tokio::test]
    async fn prover_signs_anyone_recovers() {
        let signer = PrivateKeySigner::random();
        let domain = quote_domain(31337, Address::repeat_byte(7));
        let signed = sign_quote(&signer, quote(signer.address()), &domain)
            .await
            .unwrap();
        assert_eq!(
            recover_quote_signer(&signed, &domain).unwrap(),
            signer.address()
        );

        // Another domain (rollup, chain) or a changed field: another signer.
        let other = quote_domain(1, Address::repeat_byte(7));
        assert_ne!(
            recover_quote_signer(&signed, &other).unwrap(),
            signer.address()
        );
        let mut tampered = signed.clone();
        tampered.quote.bondAmount = U256::from(1);
        assert_ne!(
            recover_quote_signer(&tampered, &domain).unwrap(),
            signer.address()
        );
    }

    #[test]
    fn type_string_matches_the_contract() {
        assert_eq!(
            EpochProofQuote::eip712_encode_type(),
            "EpochProofQuote(uint256 epochToProve,uint256 validUntilSlot,uint256 bondAmount,uint32 basisPointFee,address prover)"
        );
    }
}
