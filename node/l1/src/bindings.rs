//! The contracts' ABIs and bytecode, bound with alloy's `sol!` from the artifacts that
//! `scripts/contracts` compiles into `contracts/out/` (checked in, so building this crate
//! needs neither node nor solc; `scripts/contracts --check` keeps them in step with the
//! sources).
//!
//! Each contract gets a module of its own (`Rollup`, `Inbox`, …) holding its call, event,
//! error and struct types; the structs the Rollup takes (`BlockHeader`, `EpochProofQuote`,
//! …) are used from `Rollup::` everywhere and re-exported at the crate root.

#![allow(missing_docs, clippy::too_many_arguments)]

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Rollup,
    "../../contracts/out/Rollup.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    ProofCommitmentEscrow,
    "../../contracts/out/ProofCommitmentEscrow.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Inbox,
    "../../contracts/out/Inbox.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Outbox,
    "../../contracts/out/Outbox.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    SimulatedVerifier,
    "../../contracts/out/SimulatedVerifier.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    TestERC20,
    "../../contracts/out/TestERC20.json"
);

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    GovernanceProposer,
    "../../contracts/out/GovernanceProposer.json"
);
