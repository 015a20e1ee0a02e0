// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "./interfaces/IERC20.sol";

/// @title TestERC20
/// @notice A minimal ERC-20 for devnets and tests: the provers' bond token and the rollup's
/// fee asset. Only its deployer (the owner) mints. Not for production.
contract TestERC20 is IERC20 {
  string public name;
  string public symbol;
  uint8 public constant decimals = 18;
  address public immutable OWNER;

  uint256 public override(IERC20) totalSupply;
  mapping(address account => uint256 balance) public override(IERC20) balanceOf;
  mapping(address owner => mapping(address spender => uint256 amount)) public override(IERC20) allowance;

  error TestERC20__NotOwner(address caller);
  error TestERC20__ZeroAddress();
  error TestERC20__InsufficientBalance(address account, uint256 balance, uint256 needed);
  error TestERC20__InsufficientAllowance(address owner, address spender, uint256 allowance, uint256 needed);

  constructor(string memory _name, string memory _symbol) {
    name = _name;
    symbol = _symbol;
    OWNER = msg.sender;
  }

  function mint(address _to, uint256 _amount) external {
    require(msg.sender == OWNER, TestERC20__NotOwner(msg.sender));
    require(_to != address(0), TestERC20__ZeroAddress());
    totalSupply += _amount;
    balanceOf[_to] += _amount;
    emit Transfer(address(0), _to, _amount);
  }

  function transfer(address _to, uint256 _value) external override(IERC20) returns (bool) {
    _transfer(msg.sender, _to, _value);
    return true;
  }

  function approve(address _spender, uint256 _value) external override(IERC20) returns (bool) {
    allowance[msg.sender][_spender] = _value;
    emit Approval(msg.sender, _spender, _value);
    return true;
  }

  function transferFrom(address _from, address _to, uint256 _value) external override(IERC20) returns (bool) {
    uint256 allowed = allowance[_from][msg.sender];
    if (allowed != type(uint256).max) {
      require(allowed >= _value, TestERC20__InsufficientAllowance(_from, msg.sender, allowed, _value));
      allowance[_from][msg.sender] = allowed - _value;
    }
    _transfer(_from, _to, _value);
    return true;
  }

  function _transfer(address _from, address _to, uint256 _value) internal {
    require(_to != address(0), TestERC20__ZeroAddress());
    uint256 balance = balanceOf[_from];
    require(balance >= _value, TestERC20__InsufficientBalance(_from, balance, _value));
    balanceOf[_from] = balance - _value;
    balanceOf[_to] += _value;
    emit Transfer(_from, _to, _value);
  }
}
