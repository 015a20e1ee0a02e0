//! The bond behind a quote. The sequencer claims only quotes whose prover has the bond as
//! free deposit in the ProofCommitmentEscrow (the claim stakes it from there), so the
//! monitor checks before quoting and, when allowed, tops the deposit up from the prover's
//! token balance.

use alloy::network::Ethereum;
use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, PendingTransactionBuilder};
use provemesh_l1::bindings::ProofCommitmentEscrow;
// The bond token is any ERC-20; `TestERC20`'s binding carries the standard calls used here.
use provemesh_l1::bindings::TestERC20 as Erc20;
use provemesh_l1::L1Error;
use std::time::Duration;

/// How long an escrow transaction (approve, deposit) may take to be mined.
const L1_TX_TIMEOUT: Duration = Duration::from_secs(60);

const ESCROW: &str = "ProofCommitmentEscrow";
const TOKEN: &str = "ERC20";

/// Whether the bond can back a quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Coverage {
    /// The free deposit holds the bond, after depositing `deposited` (zero: it already did).
    Covered { deposited: U256 },
    /// It does not: `have` could back a bond, `why` says of what it is made.
    Short { have: U256, why: String },
}

/// The prover's side of the escrow and the bond token, through its wallet.
pub(super) struct BondAccount<'a> {
    pub wallet: &'a DynProvider,
    pub prover: Address,
    pub escrow: Address,
    pub token: Address,
}

impl BondAccount<'_> {
    /// Makes sure `need` is free deposit, depositing the shortfall from the token balance
    /// when `auto_deposit` allows and the balance covers it.
    pub async fn cover(&self, need: U256, auto_deposit: bool) -> Result<Coverage, L1Error> {
        let escrow = ProofCommitmentEscrow::new(self.escrow, self.wallet);
        // `deposits` is the free part already: a claim moves the bond to `bonded`.
        let free = escrow
            .deposits(self.prover)
            .call()
            .await
            .map_err(|e| L1Error::from_contract(ESCROW, "deposits", e))?;
        if free >= need {
            return Ok(Coverage::Covered {
                deposited: U256::ZERO,
            });
        }
        if !auto_deposit {
            return Ok(Coverage::Short {
                have: free,
                why: format!("escrow deposit {free}; auto-deposit is off"),
            });
        }
        let shortfall = need - free;
        let token = Erc20::new(self.token, self.wallet);
        let balance = token
            .balanceOf(self.prover)
            .call()
            .await
            .map_err(|e| L1Error::from_contract(TOKEN, "balanceOf", e))?;
        if balance < shortfall {
            return Ok(Coverage::Short {
                have: free.saturating_add(balance),
                why: format!("escrow deposit {free} + token balance {balance}"),
            });
        }
        let allowance = token
            .allowance(self.prover, self.escrow)
            .call()
            .await
            .map_err(|e| L1Error::from_contract(TOKEN, "allowance", e))?;
        if allowance < shortfall {
            let pending = token
                .approve(self.escrow, shortfall)
                .send()
                .await
                .map_err(|e| L1Error::from_contract(TOKEN, "approve", e))?;
            confirm(TOKEN, "approve", pending).await?;
        }
        let pending = escrow
            .deposit(shortfall)
            .send()
            .await
            .map_err(|e| L1Error::from_contract(ESCROW, "deposit", e))?;
        confirm(ESCROW, "deposit", pending).await?;
        Ok(Coverage::Covered {
            deposited: shortfall,
        })
    }
}

/// Waits (bounded) for a transaction's receipt and requires it to have succeeded.
async fn confirm(
    contract: &'static str,
    call: &'static str,
    pending: PendingTransactionBuilder<Ethereum>,
) -> Result<(), L1Error> {
    let receipt = pending
        .with_timeout(Some(L1_TX_TIMEOUT))
        .get_receipt()
        .await
        .map_err(|e| L1Error::from_contract(contract, call, e.into()))?;
    if !receipt.status() {
        return Err(L1Error::FailedOnChain {
            contract,
            call,
            tx_hash: receipt.transaction_hash,
        });
    }
    Ok(())
}
