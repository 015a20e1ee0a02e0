// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "./interfaces/IERC20.sol";
import {IProofCommitmentEscrow} from "./interfaces/IProofCommitmentEscrow.sol";

/// @title ProofCommitmentEscrow
/// @notice Provers' bonds for epoch proof claims. A prover deposits bond tokens before it
/// quotes and may withdraw what is not bonded at any time: a claim moves the quote's bond
/// out of the free deposit at once, so no withdrawal delay is needed to make a slash stick.
/// Slashed bonds stay in this contract for good (counted in `totalSlashed`).
///
/// The rollup is set once after deployment (`initialize`, by the deployer), because the
/// rollup itself is deployed with this contract's address.
contract ProofCommitmentEscrow is IProofCommitmentEscrow {
  IERC20 public immutable TOKEN;
  address public immutable DEPLOYER;
  address public rollup;

  mapping(address prover => uint256 amount) public override(IProofCommitmentEscrow) deposits;
  mapping(address prover => uint256 amount) public override(IProofCommitmentEscrow) bonded;
  uint256 public totalSlashed;

  modifier onlyRollup() {
    require(msg.sender == rollup && rollup != address(0), ProofCommitmentEscrow__NotRollup(msg.sender, rollup));
    _;
  }

  constructor(IERC20 _token) {
    require(address(_token) != address(0), ProofCommitmentEscrow__ZeroAddress());
    TOKEN = _token;
    DEPLOYER = msg.sender;
  }

  function initialize(address _rollup) external override(IProofCommitmentEscrow) {
    require(msg.sender == DEPLOYER, ProofCommitmentEscrow__NotDeployer(msg.sender));
    require(rollup == address(0), ProofCommitmentEscrow__AlreadyInitialized(rollup));
    require(_rollup != address(0), ProofCommitmentEscrow__ZeroAddress());
    rollup = _rollup;
    emit RollupSet(_rollup);
  }

  /// @notice Deposits `_amount` bond tokens (approved to this contract beforehand).
  function deposit(uint256 _amount) external override(IProofCommitmentEscrow) {
    require(
      TOKEN.transferFrom(msg.sender, address(this), _amount),
      ProofCommitmentEscrow__TransferFailed(address(TOKEN), address(this), _amount)
    );
    deposits[msg.sender] += _amount;
    emit Deposit(msg.sender, _amount);
  }

  /// @notice Withdraws `_amount` of the caller's free (not bonded) deposit.
  function withdraw(uint256 _amount) external override(IProofCommitmentEscrow) {
    uint256 balance = deposits[msg.sender];
    require(balance >= _amount, ProofCommitmentEscrow__InsufficientBalance(msg.sender, balance, _amount));
    deposits[msg.sender] = balance - _amount;
    require(
      TOKEN.transfer(msg.sender, _amount), ProofCommitmentEscrow__TransferFailed(address(TOKEN), msg.sender, _amount)
    );
    emit Withdraw(msg.sender, _amount);
  }

  function stakeBond(address _prover, uint256 _amount, uint256 _epoch) external override(IProofCommitmentEscrow) onlyRollup {
    uint256 balance = deposits[_prover];
    require(balance >= _amount, ProofCommitmentEscrow__InsufficientBalance(_prover, balance, _amount));
    deposits[_prover] = balance - _amount;
    bonded[_prover] += _amount;
    emit BondStaked(_prover, _epoch, _amount);
  }

  function unstakeBond(address _prover, uint256 _amount, uint256 _epoch) external override(IProofCommitmentEscrow) onlyRollup {
    _takeBond(_prover, _amount);
    deposits[_prover] += _amount;
    emit BondReturned(_prover, _epoch, _amount);
  }

  function slashBond(address _prover, uint256 _amount, uint256 _epoch) external override(IProofCommitmentEscrow) onlyRollup {
    _takeBond(_prover, _amount);
    totalSlashed += _amount;
    emit BondSlashed(_prover, _epoch, _amount);
  }

  function token() external view override(IProofCommitmentEscrow) returns (IERC20) {
    return TOKEN;
  }

  function _takeBond(address _prover, uint256 _amount) internal {
    uint256 b = bonded[_prover];
    require(b >= _amount, ProofCommitmentEscrow__InsufficientBond(_prover, b, _amount));
    bonded[_prover] = b - _amount;
  }
}
