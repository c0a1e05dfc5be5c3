/**
 * flagd's Python in-process evaluator for conformance tests: a virtualenv under
 * ~/.cache/manyfold (never in the repository) with the pinned pair
 * openfeature-provider-flagd 0.5.2 / openfeature-flagd-core 1.0.0, created on first
 * use. Those are the newest releases whose `fractional` hashes flagKey + targetingKey
 * as flagd (Go) and @openfeature/flagd-core do; openfeature-flagd-core 2.0 implements
 * the proposed CBOR-encoded "fractional v3" instead, which flagd has not shipped.
 *
 * `ensurePythonFlagd()` returns the interpreter, or a reason to skip when no Python ≥
 * 3.9 exists or PyPI cannot be reached (any other failure throws).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const PYTHON_FLAGD_PACKAGES = ['openfeature-provider-flagd==0.5.2', 'openfeature-flagd-core==1.0.0'] as const;
const venv = join(process.env['MANYFOLD_CACHE'] ?? join(homedir(), '.cache', 'manyfold'), 'flagd-py-0.5.2');
const python = join(venv, 'bin', 'python');

async function works(): Promise<boolean> {
  if (!existsSync(python)) return false;
  try {
    await run(python, ['-c', 'import openfeature.contrib.provider.flagd, mmh3']);
    return true;
  } catch {
    return false;
  }
}

async function findSystemPython(): Promise<string | undefined> {
  for (const candidate of ['python3.11', 'python3.12', 'python3.13', 'python3.10', 'python3']) {
    try {
      await run(candidate, ['-c', 'import sys, venv; assert sys.version_info >= (3, 9)']);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

export type PythonFlagd = { readonly python: string } | { readonly skip: string };

export async function ensurePythonFlagd(): Promise<PythonFlagd> {
  if (await works()) return { python };
  const system = await findSystemPython();
  if (system === undefined) return { skip: 'no python3 >= 3.9 with venv on PATH' };
  await mkdir(venv, { recursive: true });
  await run(system, ['-m', 'venv', venv]);
  try {
    await run(join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', ...PYTHON_FLAGD_PACKAGES], { timeout: 300_000 });
  } catch (error) {
    const text = String((error as { stderr?: unknown }).stderr ?? error);
    if (/Could not fetch|NewConnectionError|Temporary failure in name resolution|Network is unreachable|No matching distribution/i.test(text)) {
      return { skip: `PyPI unreachable, cannot install ${PYTHON_FLAGD_PACKAGES.join(' ')}: ${text.slice(0, 300)}` };
    }
    throw error;
  }
  if (!(await works())) throw new Error(`installed ${PYTHON_FLAGD_PACKAGES.join(' ')} into ${venv} but cannot import it`);
  return { python };
}
