//! Epoch proof quotes from provers (gossiped, or over `prover_submitEpochProofQuote`),
//! kept per epoch until the epoch's claim window, when the sequencer claims the best
//! valid one on L1.
//!
//! Valid means: the EIP-712 signature recovers to the quote's prover (under this Rollup's
//! domain), the epoch is the one being claimed, `validUntilSlot` is not past, the bond is
//! at least the Rollup's minimum and the fee at most 100%. Best means the lowest
//! `basisPointFee`; ties go to the larger bond, then to the earlier quote. One quote per
//! (epoch, prover) is kept: a newer one replaces the older, so a prover can lower its fee.
//!
//! Forged quotes never enter; expired ones are skipped when claiming. What the collector
//! cannot see — whether the prover's escrow deposit covers the bond — the claimer checks
//! on L1 before sending, and a quote the Rollup still refuses is dropped and the next
//! one tried.

use alloy::primitives::{Address, U256};
use alloy::sol_types::Eip712Domain;
use provemesh_l1::{recover_quote_signer, SignedEpochProofQuote};
use std::collections::BTreeMap;

/// 100% in basis points (`Constants.MAX_BPS`).
pub const MAX_BPS: u32 = 10_000;

/// Why a quote is not (or no longer) claimable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteRejection {
    #[error("signature recovers to {signer}, not to the quote's prover {prover}")]
    ForgedSignature { prover: Address, signer: Address },
    #[error("signature cannot be recovered: {0}")]
    BadSignature(String),
    #[error(
        "quote is for epoch {epoch}; claimable now: epoch {claimable} (current epoch {current})"
    )]
    WrongEpoch {
        epoch: U256,
        claimable: u64,
        current: u64,
    },
    #[error("quote expired: valid until slot {valid_until}, current slot {slot}")]
    Expired { valid_until: U256, slot: u64 },
    #[error("bond {bond} below the Rollup's minimum {min}")]
    BondTooLow { bond: U256, min: U256 },
    #[error("basis point fee {0} above {MAX_BPS}")]
    FeeTooHigh(u32),
}

impl QuoteRejection {
    pub fn kind(&self) -> &'static str {
        match self {
            QuoteRejection::ForgedSignature { .. } | QuoteRejection::BadSignature(_) => {
                "bad_signature"
            }
            QuoteRejection::WrongEpoch { .. } => "wrong_epoch",
            QuoteRejection::Expired { .. } => "expired",
            QuoteRejection::BondTooLow { .. } => "bond_too_low",
            QuoteRejection::FeeTooHigh(_) => "fee_too_high",
        }
    }

    /// Refusals that say the quote itself is invalid (the gossiping peer is penalised),
    /// as opposed to stale.
    pub fn is_invalid(&self) -> bool {
        matches!(
            self,
            QuoteRejection::ForgedSignature { .. }
                | QuoteRejection::BadSignature(_)
                | QuoteRejection::FeeTooHigh(_)
        )
    }
}

/// What `add` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteAdded {
    New,
    /// Replaced this prover's earlier quote for the epoch.
    Replaced,
    /// The same quote again.
    Duplicate,
}

#[derive(Debug, Clone)]
struct Stored {
    quote: SignedEpochProofQuote,
    arrival: u64,
}

/// The quotes seen, per epoch.
pub struct QuoteCollector {
    domain: Eip712Domain,
    min_bond: U256,
    epoch_duration: u64,
    by_epoch: BTreeMap<u64, Vec<Stored>>,
    arrivals: u64,
}

impl QuoteCollector {
    pub fn new(domain: Eip712Domain, min_bond: U256, epoch_duration: u64) -> Self {
        QuoteCollector {
            domain,
            min_bond,
            epoch_duration: epoch_duration.max(1),
            by_epoch: BTreeMap::new(),
            arrivals: 0,
        }
    }

    /// Checks everything but the epoch: signature, fee, bond, expiry at `slot`.
    fn check_quote(&self, q: &SignedEpochProofQuote, slot: u64) -> Result<(), QuoteRejection> {
        let quote = &q.quote;
        if quote.basisPointFee > MAX_BPS {
            return Err(QuoteRejection::FeeTooHigh(quote.basisPointFee));
        }
        if quote.bondAmount < self.min_bond {
            return Err(QuoteRejection::BondTooLow {
                bond: quote.bondAmount,
                min: self.min_bond,
            });
        }
        if quote.validUntilSlot < U256::from(slot) {
            return Err(QuoteRejection::Expired {
                valid_until: quote.validUntilSlot,
                slot,
            });
        }
        let signer = recover_quote_signer(q, &self.domain)
            .map_err(|e| QuoteRejection::BadSignature(e.to_string()))?;
        if signer != quote.prover {
            return Err(QuoteRejection::ForgedSignature {
                prover: quote.prover,
                signer,
            });
        }
        Ok(())
    }

    /// Whether `q` may be collected at `slot`: valid, and for the epoch claimable now
    /// (the previous one) or the current one (quoted ahead).
    pub fn check(&self, q: &SignedEpochProofQuote, slot: u64) -> Result<u64, QuoteRejection> {
        let current = slot / self.epoch_duration;
        let claimable = current.saturating_sub(1);
        let epoch = q.quote.epochToProve;
        let e = u64::try_from(epoch)
            .ok()
            .filter(|e| (current > 0 && *e == claimable) || *e == current);
        let Some(e) = e else {
            return Err(QuoteRejection::WrongEpoch {
                epoch,
                claimable,
                current,
            });
        };
        self.check_quote(q, slot)?;
        Ok(e)
    }

    /// Collects `q` at `slot` after [`QuoteCollector::check`].
    pub fn add(
        &mut self,
        q: SignedEpochProofQuote,
        slot: u64,
    ) -> Result<QuoteAdded, QuoteRejection> {
        let epoch = self.check(&q, slot)?;
        self.arrivals += 1;
        let arrival = self.arrivals;
        let list = self.by_epoch.entry(epoch).or_default();
        if let Some(s) = list
            .iter_mut()
            .find(|s| s.quote.quote.prover == q.quote.prover)
        {
            if s.quote == q {
                return Ok(QuoteAdded::Duplicate);
            }
            *s = Stored { quote: q, arrival };
            return Ok(QuoteAdded::Replaced);
        }
        list.push(Stored { quote: q, arrival });
        // Old epochs can never be claimed again.
        let keep_from = (slot / self.epoch_duration).saturating_sub(1);
        self.by_epoch = self.by_epoch.split_off(&keep_from);
        Ok(QuoteAdded::New)
    }

    /// The quotes for `epoch` still valid at `slot`, best first.
    pub fn candidates(&self, epoch: u64, slot: u64) -> Vec<SignedEpochProofQuote> {
        let mut valid: Vec<&Stored> = self
            .by_epoch
            .get(&epoch)
            .map(|l| {
                l.iter()
                    .filter(|s| self.check_quote(&s.quote, slot).is_ok())
                    .collect()
            })
            .unwrap_or_default();
        valid.sort_by(|a, b| {
            (
                a.quote.quote.basisPointFee,
                std::cmp::Reverse(a.quote.quote.bondAmount),
                a.arrival,
            )
                .cmp(&(
                    b.quote.quote.basisPointFee,
                    std::cmp::Reverse(b.quote.quote.bondAmount),
                    b.arrival,
                ))
        });
        valid.into_iter().map(|s| s.quote.clone()).collect()
    }

    /// Every quote held for `epoch` (valid or not by now), in arrival order.
    pub fn quotes_for(&self, epoch: u64) -> Vec<SignedEpochProofQuote> {
        let mut l: Vec<&Stored> = self
            .by_epoch
            .get(&epoch)
            .map(|l| l.iter().collect())
            .unwrap_or_default();
        l.sort_by_key(|s| s.arrival);
        l.into_iter().map(|s| s.quote.clone()).collect()
    }

    /// Forgets one quote (the Rollup refused it).
    pub fn remove(&mut self, q: &SignedEpochProofQuote) {
        if let Ok(e) = u64::try_from(q.quote.epochToProve) {
            if let Some(l) = self.by_epoch.get_mut(&e) {
                l.retain(|s| &s.quote != q);
            }
        }
    }

    /// Forgets every quote for `epoch` (claimed).
    pub fn clear(&mut self, epoch: u64) {
        self.by_epoch.remove(&epoch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::signers::local::PrivateKeySigner;
    use provemesh_l1::{quote_domain, sign_quote, EpochProofQuote};

    fn domain() -> Eip712Domain {
        quote_domain(31337, Address::repeat_byte(9))
    }

    async fn quote(
        key: &PrivateKeySigner,
        prover: Address,
        epoch: u64,
        valid_until: u64,
        bond: u64,
        fee: u32,
    ) -> SignedEpochProofQuote {
        let q = EpochProofQuote {
            epochToProve: U256::from(epoch),
            validUntilSlot: U256::from(valid_until),
            bondAmount: U256::from(bond),
            basisPointFee: fee,
            prover,
        };
        sign_quote(key, q, &domain()).await.unwrap()
    }

    #[tokio::test]
    async fn lowest_fee_among_valid_quotes_wins() {
        let mut c = QuoteCollector::new(domain(), U256::from(100), 4);
        let (a, b, x) = (
            PrivateKeySigner::random(),
            PrivateKeySigner::random(),
            PrivateKeySigner::random(),
        );
        // slot 5 = epoch 1: epoch 0 is claimable.
        let slot = 5;
        let forged = quote(&x, a.address(), 0, 10, 500, 1).await;
        assert!(matches!(
            c.add(forged, slot),
            Err(QuoteRejection::ForgedSignature { .. })
        ));
        let low_bond = quote(&a, a.address(), 0, 10, 50, 2).await;
        assert!(matches!(
            c.add(low_bond, slot),
            Err(QuoteRejection::BondTooLow { .. })
        ));
        let old_epoch = quote(&a, a.address(), 3, 10, 500, 2).await;
        assert!(matches!(
            c.add(old_epoch, slot),
            Err(QuoteRejection::WrongEpoch { .. })
        ));
        let too_expensive = quote(&a, a.address(), 0, 10, 500, 10_001).await;
        assert_eq!(
            c.add(too_expensive, slot),
            Err(QuoteRejection::FeeTooHigh(10_001))
        );

        let expiring = quote(&b, b.address(), 0, 5, 500, 3).await;
        assert_eq!(c.add(expiring.clone(), slot), Ok(QuoteAdded::New));
        let a_high = quote(&a, a.address(), 0, 10, 500, 300).await;
        assert_eq!(c.add(a_high, slot), Ok(QuoteAdded::New));
        let a_low = quote(&a, a.address(), 0, 10, 500, 200).await;
        assert_eq!(c.add(a_low.clone(), slot), Ok(QuoteAdded::Replaced));
        assert_eq!(c.add(a_low.clone(), slot), Ok(QuoteAdded::Duplicate));

        assert_eq!(c.candidates(0, 5), vec![expiring, a_low.clone()]);
        // At slot 6 the fee-3 quote has expired.
        assert_eq!(c.candidates(0, 6), vec![a_low.clone()]);
        c.remove(&a_low);
        assert!(c.candidates(0, 6).is_empty());
    }
}
