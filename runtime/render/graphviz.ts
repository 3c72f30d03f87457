import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { EXIT, MaseUserError } from '../errors.js';

export type RenderFormat = 'svg' | 'png';
export type Renderer = 'graphviz-dot' | 'wasm';

export interface RenderOptions {
  /** Skip the system `dot` even when it is installed (tests use this to cover the wasm path). */
  preferWasm?: boolean;
}

export interface RenderResult {
  /** SVG is returned as text, PNG as bytes. */
  output: Uint8Array | string;
  renderer: Renderer;
}

/** A failure users should see as one line: bad DOT, or a format this machine cannot produce. */
export class RenderError extends MaseUserError {
  override readonly name = 'RenderError';
  readonly renderer: Renderer | undefined;

  constructor(message: string, renderer?: Renderer) {
    super(message, EXIT.usage);
    this.renderer = renderer;
  }
}

const PNG_NEEDS_DOT =
  'PNG needs the Graphviz "dot" program (apt-get install graphviz); SVG works without it';

let dotPath: string | null | undefined;

function findOnPath(command: string): string | null {
  const names = process.platform === 'win32' ? [`${command}.exe`, command] : [command];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const name of names) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here; keep looking
      }
    }
  }
  return null;
}

function resolveDot(): string | null {
  // PATH is scanned once per process: rendering many diagrams should not stat PATH every time.
  if (dotPath === undefined) dotPath = findOnPath('dot');
  return dotPath;
}

/** Whether the Graphviz `dot` program is on PATH (looked up once, then cached). */
export function dotAvailable(): boolean {
  return resolveDot() !== null;
}

/**
 * Render DOT text with the system `dot` when installed, else with Graphviz compiled to wasm.
 * The wasm build has no PNG backend, so PNG without `dot` is a RenderError.
 */
export async function renderDot(
  dot: string,
  format: RenderFormat,
  options: RenderOptions = {},
): Promise<RenderResult> {
  if (format !== 'svg' && format !== 'png') {
    throw new RenderError(`Unsupported diagram format "${String(format)}": use svg or png`);
  }
  const dotExe = options.preferWasm ? null : resolveDot();
  if (dotExe !== null) {
    const bytes = await runDot(dotExe, dot, format);
    const output =
      format === 'svg'
        ? bytes.toString('utf8')
        : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { output, renderer: 'graphviz-dot' };
  }
  if (format === 'png') throw new RenderError(PNG_NEEDS_DOT);
  return { output: await renderWasmSvg(dot), renderer: 'wasm' };
}

// Spawned directly rather than through @ts-graphviz/adapter's toStream: the adapter leaves
// its stdin pipeline promise unobserved (an early `dot` exit becomes an unhandled rejection)
// and wraps stderr in a CODE/SIGNAL banner we would only have to strip again.
function runDot(dotExe: string, source: string, format: RenderFormat): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(dotExe, [`-T${format}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    // dot may exit on a syntax error before reading all of stdin; the exit code reports that.
    child.stdin.on('error', () => {});
    child.on('error', (e) => {
      reject(new RenderError(`Could not run Graphviz "dot": ${e.message}`, 'graphviz-dot'));
    });
    child.on('close', (code, signal) => {
      if (code === 0) {
        resolve(Buffer.concat(out));
        return;
      }
      // dot says "Error: <stdin>: syntax error ..."; the stdin name is noise to a user.
      const detail =
        Buffer.concat(err)
          .toString('utf8')
          .replace(/^(Error: )?<stdin>: /gm, '')
          .trim() || (signal ? `killed by ${signal}` : `exit code ${code}`);
      reject(
        new RenderError(`Graphviz "dot" could not render the diagram: ${detail}`, 'graphviz-dot'),
      );
    });
    child.stdin.end(source, 'utf8');
  });
}

type WasmGraphviz = Awaited<
  ReturnType<typeof import('@hpcc-js/wasm-graphviz')['Graphviz']['load']>
>;
let wasm: Promise<WasmGraphviz> | undefined;

function loadWasm(): Promise<WasmGraphviz> {
  // Imported lazily: the module embeds ~800 KB of base64 wasm that most runs with `dot` never need.
  if (wasm === undefined) {
    const loading = import('@hpcc-js/wasm-graphviz').then(({ Graphviz }) => Graphviz.load());
    // A failed load is retried on the next render instead of failing every later call.
    loading.catch(() => {
      if (wasm === loading) wasm = undefined;
    });
    wasm = loading;
  }
  return wasm;
}

async function renderWasmSvg(source: string): Promise<string> {
  const graphviz = await loadWasm();
  try {
    return graphviz.dot(source, 'svg');
  } catch (e) {
    const detail = (e instanceof Error ? e.message : String(e)).trim();
    throw new RenderError(`Graphviz (wasm) could not render the diagram: ${detail}`, 'wasm');
  }
}
