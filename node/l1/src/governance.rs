//! Typed access to the GovernanceProposer: the sequencer votes for a governance payload
//! (GOVERNANCE_PROPOSER_PAYLOAD_ADDRESS) once in each slot it proposes in; votes are
//! counted per round of `ROUND_SIZE` slots and a payload reaching `QUORUM_SIZE` votes in a
//! round is selected (nothing is executed: governance itself is out of scope).
//!
//! The contract's custom errors are not among [`Revert`]'s contracts: a refused vote comes
//! back as [`Revert::Unknown`], and [`governance_revert`] decodes it.

use crate::bindings::GovernanceProposer::{
    self, GovernanceProposerErrors, GovernanceProposerEvents, GovernanceProposerInstance,
    PayloadSelected, VoteCast,
};
use crate::error::{L1Error, Revert};
use crate::rollup::{read_events, send, L1Log};
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::{SolEvent, SolInterface};

const G: &str = "GovernanceProposer";

/// A vote the contract took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    pub round: u64,
    pub payload: Address,
    /// The vote brought the payload to the quorum: it is the round's selected payload.
    pub selected: bool,
    pub l1_block: u64,
}

/// The GovernanceProposer's named error in a failed call, if that is what it reverted with.
pub fn governance_revert(e: &L1Error) -> Option<GovernanceProposerErrors> {
    match e.revert()? {
        Revert::Unknown(data) => GovernanceProposerErrors::abi_decode(data).ok(),
        _ => None,
    }
}

/// An error of a GovernanceProposer call, with its named error spelled out when it has one.
pub fn describe_governance_error(e: &L1Error) -> String {
    match governance_revert(e) {
        Some(g) => format!("{G}: reverted: {g:?}"),
        None => e.to_string(),
    }
}

/// The GovernanceProposer at an address, through a provider (with a wallet, to vote).
#[derive(Debug, Clone)]
pub struct GovernanceProposerContract<P> {
    inner: GovernanceProposerInstance<P>,
}

impl<P: Provider + Clone> GovernanceProposerContract<P> {
    pub fn new(address: Address, provider: P) -> Self {
        GovernanceProposerContract {
            inner: GovernanceProposer::new(address, provider),
        }
    }

    pub fn address(&self) -> Address {
        *self.inner.address()
    }

    /// The raw binding, for calls this wrapper does not cover.
    pub fn instance(&self) -> &GovernanceProposerInstance<P> {
        &self.inner
    }

    /// Votes for `payload` in the current slot (the slot's proposer only, once per slot).
    pub async fn vote(&self, payload: Address) -> Result<Vote, L1Error> {
        let receipt: TransactionReceipt = send(G, "vote", self.inner.vote(payload)).await?;
        let logs = receipt.inner.logs();
        let cast = logs
            .iter()
            .find_map(|l| VoteCast::decode_log(&l.inner).ok())
            .ok_or(L1Error::FailedOnChain {
                contract: G,
                call: "vote (no VoteCast event)",
                tx_hash: receipt.transaction_hash,
            })?;
        let selected = logs
            .iter()
            .any(|l| PayloadSelected::decode_log(&l.inner).is_ok());
        Ok(Vote {
            round: cast.round.saturating_to(),
            payload: cast.payload,
            selected,
            l1_block: receipt.block_number.unwrap_or_default(),
        })
    }

    /// Slots per round and the votes a payload needs in one round.
    pub async fn round_and_quorum(&self) -> Result<(u64, u64), L1Error> {
        let e = |call| move |err| L1Error::from_contract(G, call, err);
        let round = self
            .inner
            .ROUND_SIZE()
            .call()
            .await
            .map_err(e("ROUND_SIZE"))?;
        let quorum = self
            .inner
            .QUORUM_SIZE()
            .call()
            .await
            .map_err(e("QUORUM_SIZE"))?;
        Ok((round.saturating_to(), quorum.saturating_to()))
    }

    /// Votes for `payload` in `round`.
    pub async fn votes(&self, round: u64, payload: Address) -> Result<u64, L1Error> {
        self.inner
            .yeaCount(U256::from(round), payload)
            .call()
            .await
            .map(|v| v.saturating_to())
            .map_err(|e| L1Error::from_contract(G, "yeaCount", e))
    }

    /// The payload selected in `round`, if one reached the quorum.
    pub async fn selected_payload(&self, round: u64) -> Result<Option<Address>, L1Error> {
        self.inner
            .selectedPayload(U256::from(round))
            .call()
            .await
            .map(|a| (a != Address::ZERO).then_some(a))
            .map_err(|e| L1Error::from_contract(G, "selectedPayload", e))
    }

    /// Every GovernanceProposer event in L1 blocks `from..=to`, in chain order.
    pub async fn events(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<L1Log<GovernanceProposerEvents>>, L1Error> {
        read_events(self.inner.provider(), G, self.address(), from, to).await
    }
}
