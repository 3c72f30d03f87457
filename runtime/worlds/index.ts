/**
 * The environment kinds MASE provides: the code of the stdlib's text worlds. Each is one
 * module here beside its declaration in stdlib/ (stdlib holds `.mase` sources only); a
 * user's kind is one folder registered with `--kind` (runtime/environment/kinds.ts).
 */
import type { EnvironmentKind } from '../environment/kinds.js';
import { covert } from './covert.js';
import { feed } from './feed.js';
import { infection } from './infection.js';
import { relay } from './relay.js';

export const BUILTIN_KINDS: readonly EnvironmentKind[] = [feed, infection, relay, covert];
