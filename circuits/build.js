#!/usr/bin/env node
// Compiles the rollup circuits in circuits/ with the pinned Noir compiler (noir_wasm) into
// checked-in artifacts, and records what the Rust side tests against. Run through
// scripts/circuits (which installs the tools and sets NODE_PATH, BB and CRS_DIR).
//
//   node circuits/build.js build OUT_DIR [--force]   compile every circuit into OUT_DIR
//   node circuits/build.js check OUT_DIR             the same without bb (CI; the caller
//                                                    diffs OUT_DIR against circuits/artifacts)
//
// Output, per circuit:
//   OUT_DIR/<name>.json        the artifact: noir_version, hash, abi, bytecode (debug
//                              symbols and file map stripped: they change with paths)
//   OUT_DIR/<name>.vk          its verification key (bb write_vk, for its proof target)
//   OUT_DIR/cases/<name>.json  its execution cases run by noir_js: the inputs, and the
//                              return value and witness (base64 gz) or the failure message
// and OUT_DIR/manifest.json: per circuit its proof target, child slots, bytecode sha256,
// gates, vk hash and vk tree index; the vk tree (leaves, root, sibling paths); the CRS's G2
// point in EVM order. OUT_DIR/HonkVerifier.sol: the L1 verifier of root rollup proofs
// (scripts/circuits moves it to contracts/generated/).
//
// The vk tree (see types/src/constants.nr) is computed from the tree circuits' vk hashes by
// executing circuits/vk_tree with noir_js; its root goes into types/src/vk_tree.nr, which
// only circuits compiled after the tree (the root rollup) use.
//
// Verification keys depend on the CRS: the checked-in ones are for the INSECURE devnet CRS
// (scripts/crs). Build mode computes a vk only when the bytecode changed (or --force);
// check mode takes the vk of an unchanged circuit from the checked-in artifacts, so it
// needs neither bb nor a CRS.
'use strict';
const { compile, createFileManager } = require('@noir-lang/noir_wasm');
const { Noir } = require('@noir-lang/noir_js');
const { execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = __dirname;
const CHECKED_IN = path.join(ROOT, 'artifacts');
const VK_TREE_NR = path.join(ROOT, 'types', 'src', 'vk_tree.nr');
const VK_TREE_LEAVES = 16;

// `vkIndex`: the circuit's leaf in the vk tree (types/src/constants.nr). `target`: how its
// proofs are made (`bb prove -t`): verified inside Noir (noir-recursive-no-zk; client proofs with zero knowledge, noir-recursive) or on L1
// (evm). `slots`: the child proofs it verifies, as parameter paths the prover fills in from
// each child's stored proof (`inputs`: the child's public inputs, decoded by the ABI type
// at that path; `proof`: a types::recursion::ChildProof) and the circuits each slot takes.
const CIRCUITS = [
  { name: 'parity_base', target: 'noir-recursive-no-zk', vkIndex: 0, slots: [] },
  {
    name: 'parity_root', target: 'noir-recursive-no-zk', vkIndex: 1,
    slots: [0, 1].map((i) => ({ inputs: `children[${i}]`, proof: `proofs[${i}]`, circuits: ['parity_base'] })),
  },
  { name: 'private_base_rollup', target: 'noir-recursive-no-zk', vkIndex: 2, slots: [] },
  {
    name: 'merge_rollup', target: 'noir-recursive-no-zk', vkIndex: 3,
    slots: [0, 1].map((i) => ({ inputs: `children[${i}]`, proof: `proofs[${i}]`, circuits: ['private_base_rollup', 'merge_rollup'] })),
  },
  {
    name: 'block_root_rollup', target: 'noir-recursive-no-zk', vkIndex: 4,
    slots: [
      { inputs: 'rollup', proof: 'rollup_proof', circuits: ['private_base_rollup', 'merge_rollup'] },
      { inputs: 'parity', proof: 'parity_proof', circuits: ['parity_root'] },
    ],
  },
  // A block without txs: only the root parity below it.
  {
    name: 'empty_block_root_rollup', target: 'noir-recursive-no-zk', vkIndex: 7,
    slots: [{ inputs: 'parity', proof: 'parity_proof', circuits: ['parity_root'] }],
  },
  {
    name: 'block_merge_rollup', target: 'noir-recursive-no-zk', vkIndex: 5,
    slots: [0, 1].map((i) => ({ inputs: `children[${i}]`, proof: `proofs[${i}]`, circuits: ['block_root_rollup', 'empty_block_root_rollup', 'block_merge_rollup'] })),
  },
  // The client proof a tx carries (proved by the tx's sender, with zero knowledge); the base
  // rollup verifies it with the key at this leaf.
  { name: 'private_kernel_tail', target: 'noir-recursive', vkIndex: 6, slots: [] },
  // Not in the vk tree (nothing verifies it but L1, which pins its vk in the verifier
  // contract); compiled after the tree, whose root it pins.
  {
    name: 'root_rollup', target: 'evm', afterTree: true,
    slots: [{ inputs: 'child', proof: 'child_proof', circuits: ['block_root_rollup', 'empty_block_root_rollup', 'block_merge_rollup'] }],
  },
];

const [mode, outDir, ...flags] = process.argv.slice(2);
if (!['build', 'check'].includes(mode) || !outDir) {
  console.error('usage: build.js build|check OUT_DIR [--force]');
  process.exit(2);
}
const force = flags.includes('--force');
const { BB, CRS_DIR } = process.env;

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const readJson = (p, dflt) => (fs.existsSync(p) ? JSON.parse(fs.readFileSync(p, 'utf8')) : dflt);
const oldManifest = readJson(path.join(CHECKED_IN, 'manifest.json'), { circuits: {} });
const hex32 = (v) => '0x' + BigInt(v).toString(16).padStart(64, '0');

// Aztec's ceremony [x]G2 as bb writes it into Solidity verifiers (EVM order: x.c1, x.c0,
// y.c1, y.c0); replaced by the CRS's own [τ]G2 so the verifier checks proofs made with it.
const CEREMONY_G2_EVM = [
  '260e01b251f6f1c7e7ff4e580791dee8ea51d87a358e038b4efe30fac09383c1',
  '0118c4d5b837bcc2bc89b5b398b5974e9f5944073b32078b7e231fec938883b0',
  '04fc6369f7110fe3d25156c1bb9a72859cf2a04641f99ba4ee413c80da6a5fe4',
  '22febda3c0c0632a56475b4214e5615e11e6dd3f96e6cea2854a87d4dacc5e55',
];

// The CRS's [τ]G2 (bn254_g2.dat: x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1) in EVM order.
function crsG2Evm() {
  const g2 = fs.readFileSync(path.join(CRS_DIR, 'bn254_g2.dat'));
  const w = (i) => g2.subarray(32 * i, 32 * i + 32).toString('hex');
  return [w(1), w(0), w(3), w(2)];
}

// The L1 verifier of the root rollup's proofs: `bb write_solidity_verifier` for its vk,
// with the verification G2 point of the CRS the circuits were built with.
function solidityVerifier(vkPath, g2Evm) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'verifier-'));
  try {
    bb(['write_solidity_verifier', '-k', vkPath, '-o', path.join(tmp, 'HonkVerifier.sol'), '-t', 'evm']);
    let text = fs.readFileSync(path.join(tmp, 'HonkVerifier.sol'), 'utf8');
    CEREMONY_G2_EVM.forEach((w, i) => {
      const n = text.split(w).length - 1;
      if (n !== 1) throw new Error(`the generated verifier holds the ceremony G2 word ${i} ${n} times, expected once`);
      text = text.replace(w, g2Evm[i]);
    });
    return `// Generated by scripts/circuits: bb write_solidity_verifier for the root rollup circuit's
// verification key (circuits/artifacts/root_rollup.vk), its G2 point replaced by the CRS's
// [tau]G2. With the INSECURE devnet CRS (manifest "crs": "insecure-devnet") it accepts proofs
// anyone can forge: devnets and tests only. Do not edit.
${text}`;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function bb(args) {
  return execFileSync(BB, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
}

async function compileProgram(name) {
  const { program } = await compile(createFileManager(ROOT), path.join(ROOT, name), () => {}, () => {});
  return program;
}

function writeVkTreeNr(root) {
  const text = `// Generated by scripts/circuits: the root of the verification-key tree (see constants.nr)
// for bb 5.0.0 and the INSECURE devnet CRS. Do not edit.
pub global VK_TREE_ROOT: Field = ${root};
`;
  if (fs.existsSync(VK_TREE_NR) && fs.readFileSync(VK_TREE_NR, 'utf8') === text) return;
  if (mode === 'check') throw new Error('circuits/types/src/vk_tree.nr does not match the circuits: run scripts/circuits');
  fs.writeFileSync(VK_TREE_NR, text);
}

// Case inputs may name generated values: "$vk_tree_root", "$vk_hash:<circuit>",
// "$vk_index:<circuit>", "$vk_path:<circuit>", and "$zeros:<n>" (n zero fields, e.g. a
// placeholder proof: execution does not check proofs, bb does).
function substitute(v, tree) {
  if (typeof v === 'string' && v.startsWith('$')) {
    const [key, arg] = v.slice(1).split(':');
    const c = arg && CIRCUITS.find((c) => c.name === arg);
    switch (key) {
      case 'vk_tree_root': return tree.root;
      case 'vk_hash': return tree.leaves[c.vkIndex];
      case 'vk_index': return c.vkIndex;
      case 'vk_path': return tree.paths[c.vkIndex];
      case 'zeros': return Array(Number(arg)).fill('0');
      default: throw new Error(`unknown placeholder ${v}`);
    }
  }
  if (Array.isArray(v)) return v.map((x) => substitute(x, tree));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, tree)]));
  return v;
}

async function runCases(name, program, tree) {
  const dir = path.join(ROOT, name, 'cases');
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const spec = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    const c = { case: f.replace(/\.json$/, ''), inputs: substitute(spec.inputs, tree) };
    try {
      const { witness, returnValue } = await new Noir(program).execute(c.inputs);
      c.return_value = returnValue;
      c.witness_gz_base64 = Buffer.from(witness).toString('base64');
    } catch (e) {
      c.error = String(e.message || e);
    }
    if (spec.expect_error !== undefined && !(c.error || '').includes(spec.expect_error)) {
      throw new Error(`${name}/${f}: expected failure "${spec.expect_error}", got ${c.error ? `"${c.error}"` : 'success'}`);
    }
    if (spec.expect_error === undefined && c.error) throw new Error(`${name}/${f}: unexpected failure: ${c.error}`);
    out.push(c);
  }
  return out;
}

(async () => {
  fs.mkdirSync(path.join(outDir, 'cases'), { recursive: true });
  const manifest = {
    generated_by: 'scripts/circuits (circuits/build.js)',
    noir: null,
    bb: oldManifest.bb || null,
    crs: mode === 'build' ? process.env.CRS_NAME || 'custom' : oldManifest.crs,
    circuits: {},
    vk_tree: null,
  };
  const programs = {};
  const build = async (c) => {
    const t = Date.now();
    const program = await compileProgram(c.name);
    programs[c.name] = program;
    const artifact = { noir_version: program.noir_version, hash: program.hash, abi: program.abi, bytecode: program.bytecode };
    fs.writeFileSync(path.join(outDir, `${c.name}.json`), JSON.stringify(artifact) + '\n');
    manifest.noir = program.noir_version;
    const bytecodeSha = sha256(Buffer.from(program.bytecode, 'base64'));
    const old = oldManifest.circuits[c.name];
    const entry = { target: c.target, vk_index: c.vkIndex ?? null, slots: c.slots, bytecode_sha256: bytecodeSha, gates: null, vk_hash: null };
    const oldVk = path.join(CHECKED_IN, `${c.name}.vk`);
    if (!force && old && old.bytecode_sha256 === bytecodeSha && old.target === c.target && old.vk_hash && fs.existsSync(oldVk)) {
      entry.gates = old.gates;
      entry.vk_hash = old.vk_hash;
      fs.copyFileSync(oldVk, path.join(outDir, `${c.name}.vk`));
    } else if (mode === 'build') {
      if (!BB || !CRS_DIR) throw new Error('build needs BB and CRS_DIR (scripts/circuits sets them)');
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `circuit-${c.name}-`));
      try {
        const artifactPath = path.join(outDir, `${c.name}.json`);
        entry.gates = JSON.parse(bb(['gates', '-b', artifactPath])).functions[0].circuit_size;
        bb(['write_vk', '-b', artifactPath, '-o', tmp, '-t', c.target, '-c', CRS_DIR]);
        fs.copyFileSync(path.join(tmp, 'vk'), path.join(outDir, `${c.name}.vk`));
        entry.vk_hash = '0x' + fs.readFileSync(path.join(tmp, 'vk_hash')).toString('hex');
        manifest.bb = bb(['--version']).trim();
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    } else {
      throw new Error(`${c.name} changed (bytecode sha256 ${bytecodeSha.slice(0, 12)}…): circuits/artifacts is stale, run scripts/circuits`);
    }
    manifest.circuits[c.name] = entry;
    console.error(`circuits: ${c.name}: ${entry.gates} gates, vk hash ${entry.vk_hash} (${Date.now() - t} ms)`);
  };
  for (const c of CIRCUITS.filter((c) => !c.afterTree)) await build(c);

  // The vk tree, computed by the circuits' own hashing.
  const leaves = Array(VK_TREE_LEAVES).fill(hex32(0));
  for (const c of CIRCUITS) if (c.vkIndex !== undefined) leaves[c.vkIndex] = manifest.circuits[c.name].vk_hash;
  const { returnValue } = await new Noir(await compileProgram('vk_tree')).execute({ leaves });
  const tree = { height: Math.log2(VK_TREE_LEAVES), leaves, root: hex32(returnValue[0]), paths: returnValue[1].map((p) => p.map(hex32)) };
  manifest.vk_tree = tree;
  writeVkTreeNr(tree.root);
  for (const c of CIRCUITS.filter((c) => c.afterTree)) await build(c);

  if (!BB) throw new Error('the Solidity verifier needs bb (BB; scripts/circuits sets it)');
  manifest.crs_g2_evm = mode === 'build' ? crsG2Evm() : oldManifest.crs_g2_evm;
  if (!manifest.crs_g2_evm) throw new Error('no crs_g2_evm in circuits/artifacts/manifest.json: run scripts/circuits');
  fs.writeFileSync(path.join(outDir, 'HonkVerifier.sol'), solidityVerifier(path.join(outDir, 'root_rollup.vk'), manifest.crs_g2_evm));

  for (const c of CIRCUITS) {
    const cases = await runCases(c.name, programs[c.name], tree);
    fs.writeFileSync(path.join(outDir, 'cases', `${c.name}.json`), JSON.stringify(cases, null, 1) + '\n');
    console.error(`circuits: ${c.name}: ${cases.length} execution cases`);
  }
  fs.writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
})().catch((e) => {
  const d = (e.cause && e.cause.diagnostics) || e.diagnostics;
  if (d) console.error(JSON.stringify(d, null, 1));
  console.error(`circuits: ${e.message}`);
  process.exit(1);
});
