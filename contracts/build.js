#!/usr/bin/env node
// Compiles contracts/src with the bootstrapped solc (solcjs, pinned in scripts/bootstrap)
// through standard JSON and writes one artifact per deployable contract:
// OUT_DIR/<Name>.json = { contractName, compiler, abi, bytecode, deployedBytecode }.
// node/l1 binds these files with alloy's `sol!`. Run through scripts/contracts.
//
// Usage: node contracts/build.js SOLC OUT_DIR
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const [solc, outDir] = process.argv.slice(2);
if (!solc || !outDir) {
  console.error('usage: build.js SOLC OUT_DIR');
  process.exit(2);
}
const root = __dirname;
// The contracts node/l1 deploys or talks to; interfaces and libraries are compiled into them.
const DEPLOYABLE = [
  'Rollup', 'ProofCommitmentEscrow', 'Inbox', 'Outbox', 'SimulatedVerifier', 'TestERC20', 'GovernanceProposer',
];

function solFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? solFiles(p) : e.name.endsWith('.sol') ? [p] : [];
  }).sort();
}

const sources = {};
for (const f of solFiles(path.join(root, 'src'))) {
  sources[path.relative(root, f)] = { content: fs.readFileSync(f, 'utf8') };
}
const input = {
  language: 'Solidity',
  sources,
  settings: {
    // Pinned so the bytecode does not change with the compiler's default.
    evmVersion: 'prague',
    optimizer: { enabled: true, runs: 200 },
    viaIR: true,
    // No metadata hash in the bytecode: artifacts change with the code, not with comments.
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};

const version = execFileSync(solc, ['--version'], { encoding: 'utf8' }).match(/Version: (\S+)/)[1];
const output = JSON.parse(
  execFileSync(solc, ['--standard-json'], { input: JSON.stringify(input), maxBuffer: 1 << 30, encoding: 'utf8' }),
);
const errors = (output.errors || []).filter((e) => e.severity === 'error');
for (const e of output.errors || []) console.error(e.formattedMessage || e.message);
if (errors.length) process.exit(1);

fs.mkdirSync(outDir, { recursive: true });
for (const name of DEPLOYABLE) {
  const file = `src/${name}.sol`;
  const c = output.contracts[file] && output.contracts[file][name];
  if (!c) {
    console.error(`build.js: ${name} not found in ${file}`);
    process.exit(1);
  }
  const artifact = {
    contractName: name,
    compiler: `solc ${version}`,
    abi: c.abi,
    bytecode: '0x' + c.evm.bytecode.object,
    deployedBytecode: '0x' + c.evm.deployedBytecode.object,
  };
  fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + '\n');
  console.error(`${name}: ${c.evm.deployedBytecode.object.length / 2} bytes deployed`);
}

// The epoch proof verifier for real proofs (contracts/generated/HonkVerifier.sol, written by
// scripts/circuits: `bb write_solidity_verifier` for the root rollup circuit's verification
// key). Compiled on its own without via-IR: its assembly-heavy code overflows the IR
// pipeline's stack ("too deep"); same optimizer and EVM version otherwise. HonkVerifier
// links the libraries RelationsLib and ZKTranscriptLib: its bytecode keeps solc's link
// placeholders, listed in `linkReferences`, which the deployer fills with their addresses.
const GENERATED = path.join(root, 'generated');
const GENERATED_DEPLOYABLE = ['HonkVerifier', 'RelationsLib', 'ZKTranscriptLib'];
if (fs.existsSync(GENERATED)) {
  const gSources = {};
  for (const f of solFiles(GENERATED)) gSources[path.relative(root, f)] = { content: fs.readFileSync(f, 'utf8') };
  const gInput = {
    language: 'Solidity',
    sources: gSources,
    settings: {
      ...input.settings,
      viaIR: false,
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.bytecode.linkReferences', 'evm.deployedBytecode.object'] } },
    },
  };
  const gOut = JSON.parse(
    execFileSync(solc, ['--standard-json'], { input: JSON.stringify(gInput), maxBuffer: 1 << 30, encoding: 'utf8' }),
  );
  const gErrors = (gOut.errors || []).filter((e) => e.severity === 'error');
  for (const e of gErrors) console.error(e.formattedMessage || e.message);
  if (gErrors.length) process.exit(1);
  const file = 'generated/HonkVerifier.sol';
  for (const name of GENERATED_DEPLOYABLE) {
    const c = gOut.contracts[file] && gOut.contracts[file][name];
    if (!c) {
      console.error(`build.js: ${name} not found in ${file}`);
      process.exit(1);
    }
    const artifact = {
      contractName: name,
      compiler: `solc ${version}`,
      sourceUnit: file,
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
      deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      linkReferences: c.evm.bytecode.linkReferences,
    };
    fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + '\n');
    console.error(`${name}: ${c.evm.deployedBytecode.object.length / 2} bytes deployed`);
  }
}
