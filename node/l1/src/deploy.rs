//! Puts a whole provemesh rollup on an L1 chain: the bond/fee test token, the proof
//! commitment escrow, the epoch proof verifier, Inbox, Outbox and the Rollup, then points
//! the escrow, Inbox and Outbox at the Rollup (each accepts that once, from its deployer),
//! and last the GovernanceProposer the Rollup's sequencer votes on.
//! For devnets and tests; a production deployment would bring its own token and the
//! Barretenberg-generated Honk verifier ([`VerifierChoice::Honk`] deploys the one generated
//! in this tree, [`VerifierChoice::Existing`] uses one on chain).

use crate::bindings::{
    GovernanceProposer, Inbox, Outbox, ProofCommitmentEscrow, Rollup, SimulatedVerifier, TestERC20,
};
use crate::error::L1Error;
use crate::rollup::send;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionReceipt;
use serde::{Deserialize, Serialize};

/// Which epoch proof verifier the Rollup uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum VerifierChoice {
    /// Deploy `SimulatedVerifier` (PROVER_REAL_PROOFS=false): checks a simulated proof's
    /// binding to the public inputs.
    #[default]
    Simulated,
    /// Deploy the generated Honk verifier of the root rollup (PROVER_REAL_PROOFS=true):
    /// real proofs of the circuits in `circuits/`, with the CRS its key was made for.
    Honk,
    /// A verifier already on chain with `verify(bytes, bytes32[])` (the Honk verifier).
    Existing(Address),
}

/// Deploy-time settings of the rollup. Windows are in slots, counted from the start of the
/// epoch after the one being proven; `0 < claim_window <= proof_submission_window <=
/// epoch_duration` (the Rollup's constructor rejects anything else).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployConfig {
    /// Seconds per L2 slot.
    pub slot_duration: u64,
    /// Slots per epoch.
    pub epoch_duration: u64,
    /// Slots after an epoch ends during which its proof right can be claimed.
    pub claim_window: u64,
    /// Slots after an epoch ends within which its proof must land.
    pub proof_submission_window: u64,
    /// Smallest bond a quote may offer.
    pub min_bond: U256,
    /// The only account allowed to propose and claim; `None` lets anyone.
    pub sequencer: Option<Address>,
    /// Archive root of the genesis block (block 0).
    pub genesis_archive: B256,
    pub verifier: VerifierChoice,
    /// GovernanceProposer: slots per voting round.
    #[serde(default = "default_governance_round_size")]
    pub governance_round_size: u64,
    /// GovernanceProposer: votes a payload needs in one round to be selected
    /// (`0 < quorum <= round size`; the constructor rejects anything else).
    #[serde(default = "default_governance_quorum")]
    pub governance_quorum: u64,
}

fn default_governance_round_size() -> u64 {
    10
}

fn default_governance_quorum() -> u64 {
    6
}

impl Default for DeployConfig {
    /// 12-second slots, 8-slot epochs, claims in the first 4 slots of the next epoch,
    /// proofs within all 8; a 100-token (10^20 base units) minimum bond; governance
    /// rounds of 10 slots with a quorum of 6.
    fn default() -> Self {
        DeployConfig {
            slot_duration: 12,
            epoch_duration: 8,
            claim_window: 4,
            proof_submission_window: 8,
            min_bond: U256::from(100u64) * U256::from(10u64).pow(U256::from(18u64)),
            sequencer: None,
            genesis_archive: B256::ZERO,
            verifier: VerifierChoice::Simulated,
            governance_round_size: default_governance_round_size(),
            governance_quorum: default_governance_quorum(),
        }
    }
}

/// Where the deployed contracts are. `rollup_l1_block` is the L1 block of the Rollup's
/// deployment: an archiver starts reading events there. `governance_proposer` is zero in
/// a record written before the GovernanceProposer existed (none deployed: no votes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub chain_id: u64,
    pub token: Address,
    pub escrow: Address,
    pub verifier: Address,
    pub inbox: Address,
    pub outbox: Address,
    pub rollup: Address,
    pub rollup_l1_block: u64,
    #[serde(default)]
    pub governance_proposer: Address,
}

fn deployed(contract: &'static str, r: &TransactionReceipt) -> Result<Address, L1Error> {
    r.contract_address.ok_or(L1Error::NotDeployed { contract })
}

/// Deploys and wires every contract from the provider's default sender, which becomes the
/// token's owner (it can mint) and the deployer of record of escrow, Inbox and Outbox.
pub async fn deploy_all<P: Provider + Clone>(
    provider: P,
    config: &DeployConfig,
) -> Result<Deployment, L1Error> {
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| L1Error::from_contract("chain", "eth_chainId", e.into()))?;

    let r = send(
        "TestERC20",
        "deploy",
        TestERC20::deploy_builder(
            provider.clone(),
            "provemesh test token".into(),
            "PMT".into(),
        ),
    )
    .await?;
    let token = deployed("TestERC20", &r)?;

    let r = send(
        "ProofCommitmentEscrow",
        "deploy",
        ProofCommitmentEscrow::deploy_builder(provider.clone(), token),
    )
    .await?;
    let escrow = deployed("ProofCommitmentEscrow", &r)?;

    let verifier = match config.verifier {
        VerifierChoice::Existing(a) => a,
        VerifierChoice::Honk => crate::deploy_honk_verifier(&provider).await?,
        VerifierChoice::Simulated => {
            let r = send(
                "SimulatedVerifier",
                "deploy",
                SimulatedVerifier::deploy_builder(provider.clone()),
            )
            .await?;
            deployed("SimulatedVerifier", &r)?
        }
    };

    let r = send("Inbox", "deploy", Inbox::deploy_builder(provider.clone())).await?;
    let inbox = deployed("Inbox", &r)?;
    let r = send("Outbox", "deploy", Outbox::deploy_builder(provider.clone())).await?;
    let outbox = deployed("Outbox", &r)?;

    let rollup_config = Rollup::RollupConfig {
        slotDuration: U256::from(config.slot_duration),
        epochDuration: U256::from(config.epoch_duration),
        claimWindow: U256::from(config.claim_window),
        proofSubmissionWindow: U256::from(config.proof_submission_window),
        minBondAmount: config.min_bond,
        sequencer: config.sequencer.unwrap_or(Address::ZERO),
        genesisArchive: config.genesis_archive,
    };
    let r = send(
        "Rollup",
        "deploy",
        Rollup::deploy_builder(
            provider.clone(),
            token,
            escrow,
            verifier,
            inbox,
            outbox,
            rollup_config,
        ),
    )
    .await?;
    let rollup = deployed("Rollup", &r)?;
    let rollup_l1_block = r.block_number.unwrap_or_default();

    let p = &provider;
    send(
        "ProofCommitmentEscrow",
        "initialize",
        ProofCommitmentEscrow::new(escrow, p).initialize(rollup),
    )
    .await?;
    send(
        "Inbox",
        "initialize",
        Inbox::new(inbox, p).initialize(rollup),
    )
    .await?;
    send(
        "Outbox",
        "initialize",
        Outbox::new(outbox, p).initialize(rollup),
    )
    .await?;

    // Last, so the other contracts keep the addresses they had before it existed.
    let r = send(
        "GovernanceProposer",
        "deploy",
        GovernanceProposer::deploy_builder(
            provider.clone(),
            rollup,
            U256::from(config.governance_round_size),
            U256::from(config.governance_quorum),
        ),
    )
    .await?;
    let governance_proposer = deployed("GovernanceProposer", &r)?;

    let d = Deployment {
        chain_id,
        token,
        escrow,
        verifier,
        inbox,
        outbox,
        rollup,
        rollup_l1_block,
        governance_proposer,
    };
    tracing::info!(?d, "rollup contracts deployed");
    Ok(d)
}
