// The image-format signatures of the module manifests (`tessera.signatures`) and core's table
// for the formats no module provides: checked at build time, so a malformed or conflicting
// signature fails the build naming its module, never a probe at run time.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Core's table of the formats no module provides (the runtime reads the same file). */
export const CORE_SIGNATURES_PATH = 'packages/core/src/block/probe/unprovided-signatures.json';

/** The signatures probing reads: one sector (512 bytes) at each end of the image. */
const SECTOR = 512;
/** A bound on a name or content pattern, so a signature stays a signature. */
const MAX_PATTERN = 200;

export function readCoreSignatures(root) {
  const path = join(root, CORE_SIGNATURES_PATH);
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : [];
}

function u32(value) {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

function compiles(pattern) {
  try {
    new RegExp(pattern);
    return true;
  } catch {
    return false;
  }
}

/** What is wrong with one test, or undefined. */
function testProblem(test) {
  if (typeof test !== 'object' || test === null) return 'a test is not an object';
  const kinds = ['ascii', 'u32le', 'u32be', 'latin1'].filter((k) => k in test);
  const extra = Object.keys(test).filter((k) => k !== 'at' && !kinds.includes(k));
  if (kinds.length !== 1 || extra.length > 0) return `a test needs "at" and exactly one of ascii, u32le, u32be, latin1 (got ${JSON.stringify(test)})`;
  const at = test.at;
  if (!Number.isInteger(at) || at < 0 || at >= SECTOR) return `"at" must be an offset within the ${SECTOR}-byte sector (got ${JSON.stringify(at)})`;
  const [kind] = kinds;
  const value = test[kind];
  if (kind === 'ascii') {
    if (typeof value !== 'string' || value.length === 0) return 'an ascii test needs a non-empty string';
    if ([...value].some((c) => c.charCodeAt(0) > 0xff)) return `ascii ${JSON.stringify(value)} has a character above \\u00ff (one byte each)`;
    if (at + value.length > SECTOR) return `ascii ${JSON.stringify(value)} at ${at} runs past the ${SECTOR}-byte sector`;
  } else if (kind === 'latin1') {
    if (typeof value !== 'string' || value.length > MAX_PATTERN || !compiles(value)) return `latin1 ${JSON.stringify(value)} is not a regular expression of at most ${MAX_PATTERN} characters`;
  } else {
    if (at + 4 > SECTOR) return `${kind} at ${at} runs past the ${SECTOR}-byte sector`;
    const bounds = typeof value === 'object' && value !== null ? value : undefined;
    const ok = bounds
      ? Object.keys(bounds).every((k) => k === 'min' || k === 'max') && Object.keys(bounds).length > 0 && Object.values(bounds).every(u32)
      : u32(value);
    if (!ok) return `${kind} ${JSON.stringify(value)} is not a 32-bit number ("0x…" or decimal) or {min, max} of such`;
  }
  return undefined;
}

/** What is wrong with one signature, or undefined. */
function signatureProblem(signature) {
  if (typeof signature !== 'object' || signature === null) return 'a signature is not an object';
  if (typeof signature.format !== 'string' || !/^[a-z0-9]+$/.test(signature.format)) return `a signature needs a "format" name (got ${JSON.stringify(signature.format)})`;
  const where = signature.in ?? 'head';
  if (where === 'name') {
    const extra = Object.keys(signature).filter((k) => !['format', 'in', 'name'].includes(k));
    if (extra.length > 0 || typeof signature.name !== 'string' || signature.name.length > MAX_PATTERN || !compiles(signature.name)) {
      return `a name signature needs only "name", a regular expression of at most ${MAX_PATTERN} characters`;
    }
    return undefined;
  }
  if (where !== 'head' && where !== 'tail') return `"in" must be head, tail or name (got ${JSON.stringify(signature.in)})`;
  const extra = Object.keys(signature).filter((k) => !['format', 'in', 'all'].includes(k));
  if (extra.length > 0) return `a signature has unknown fields: ${extra.join(', ')}`;
  if (!Array.isArray(signature.all) || signature.all.length === 0) return 'a signature needs "all": a non-empty list of tests';
  for (const test of signature.all) {
    const problem = testProblem(test);
    if (problem) return problem;
  }
  return undefined;
}

/** A signature's content without its format: two equal keys are the same signature claimed twice. */
function contentKey(signature) {
  const sorted = (value) =>
    Array.isArray(value)
      ? value.map(sorted)
      : typeof value === 'object' && value !== null
        ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted(value[k])]))
        : value;
  const { format: _format, ...rest } = signature;
  return JSON.stringify(sorted({ in: 'head', ...rest, all: rest.all && [...rest.all].map(sorted).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) }));
}

/**
 * Check every manifest's signatures and core's table together; `fail(message)` throws.
 * A format's signatures come from one place only: one module, or core's table.
 */
export function checkSignatures(manifests, coreSignatures, fail) {
  const formatOwner = new Map(); // format -> who declares its signatures
  const contentOwner = new Map(); // content key -> who
  const claim = (owner, signature) => {
    const other = formatOwner.get(signature.format);
    if (other !== undefined && other !== owner) {
      fail(
        other === "core's table" || owner === "core's table"
          ? `module ${other === "core's table" ? owner : other} declares the signature of format ${signature.format}, which core's table (${CORE_SIGNATURES_PATH}) also has; remove it from core's table`
          : `two modules claim the signature of format ${signature.format}: ${other} and ${owner}`,
      );
    }
    formatOwner.set(signature.format, owner);
    const key = contentKey(signature);
    const same = contentOwner.get(key);
    if (same !== undefined) fail(`${same.owner} and ${owner} claim the same signature (${same.format} and ${signature.format}): ${key}`);
    contentOwner.set(key, { owner, format: signature.format });
  };
  for (const manifest of manifests) {
    const signatures = manifest.signatures;
    if (!Array.isArray(signatures)) fail(`module ${manifest.name}: tessera.signatures must be a list`);
    for (const signature of signatures) {
      const problem = signatureProblem(signature);
      if (problem) fail(`module ${manifest.name}: bad signature: ${problem}`);
      if (!manifest.provides.includes(`block-format:${signature.format}`)) {
        fail(`module ${manifest.name} declares a signature of format ${signature.format} but does not provide block-format:${signature.format}`);
      }
    }
  }
  if (!Array.isArray(coreSignatures)) fail(`${CORE_SIGNATURES_PATH} must be a list`);
  for (const signature of coreSignatures) {
    const problem = signatureProblem(signature);
    if (problem) fail(`core's table (${CORE_SIGNATURES_PATH}): bad signature: ${problem}`);
  }
  for (const manifest of manifests) for (const signature of manifest.signatures) claim(manifest.name, signature);
  for (const signature of coreSignatures) claim("core's table", signature);
}

/** The signatures of the tree's format modules that are not on an app's list (their images are refused by name). */
export function unlistedSignatures(manifests, listed) {
  const names = new Set(listed.map((m) => m.name));
  return manifests.filter((m) => !names.has(m.name)).flatMap((m) => m.signatures);
}
