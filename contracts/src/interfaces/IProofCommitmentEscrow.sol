// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "./IERC20.sol";

/// @notice Holds provers' bond tokens. A prover deposits ahead of quoting; a claim on its
/// quote moves the bond from its free deposit to bonded (locked); a proof returns it, a
/// missed submission window slashes it.
interface IProofCommitmentEscrow {
  event Deposit(address indexed prover, uint256 amount);
  event Withdraw(address indexed prover, uint256 amount);
  event BondStaked(address indexed prover, uint256 indexed epoch, uint256 amount);
  event BondReturned(address indexed prover, uint256 indexed epoch, uint256 amount);
  event BondSlashed(address indexed prover, uint256 indexed epoch, uint256 amount);
  event RollupSet(address rollup);

  error ProofCommitmentEscrow__NotRollup(address caller, address rollup);
  error ProofCommitmentEscrow__NotDeployer(address caller);
  error ProofCommitmentEscrow__AlreadyInitialized(address rollup);
  error ProofCommitmentEscrow__ZeroAddress();
  error ProofCommitmentEscrow__InsufficientBalance(address prover, uint256 balance, uint256 amount);
  error ProofCommitmentEscrow__InsufficientBond(address prover, uint256 bonded, uint256 amount);
  error ProofCommitmentEscrow__TransferFailed(address token, address to, uint256 amount);

  function initialize(address _rollup) external;
  function deposit(uint256 _amount) external;
  function withdraw(uint256 _amount) external;
  function stakeBond(address _prover, uint256 _amount, uint256 _epoch) external;
  function unstakeBond(address _prover, uint256 _amount, uint256 _epoch) external;
  function slashBond(address _prover, uint256 _amount, uint256 _epoch) external;
  function token() external view returns (IERC20);
  function deposits(address _prover) external view returns (uint256);
  function bonded(address _prover) external view returns (uint256);
}
