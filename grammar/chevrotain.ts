import type * as Chevrotain from 'chevrotain';

/**
 * Chevrotain, loaded from the single-file build its package ships. The package's main
 * entry pulls in ~640 lodash-es modules (≈300 ms at every CLI start); the bundled build
 * is the same code in one file (≈20 ms). All of MASE must take Chevrotain from here, so
 * that tokens and parser come from one copy.
 */
async function load(): Promise<typeof Chevrotain> {
  try {
    const entry = import.meta.resolve('chevrotain');
    return (await import(new URL('../chevrotain.mjs', entry).href)) as typeof Chevrotain;
  } catch {
    return await import('chevrotain');
  }
}

export const chevrotain: typeof Chevrotain = await load();
