import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AnyStateMachine, initialTransition, transition } from 'xstate';
import {
  compileSources,
  createInstitutionMachine,
  machineModule,
} from '../../../compiler/index.js';
import { stdlibSources } from '../../../runtime/index.js';

// `mase compile --format ts` writes the guard and action implementations out as source;
// this checks that text against the implementations the runtime uses, so they cannot drift.
const here = dirname(fileURLToPath(import.meta.url));
const source = stdlibSources().find((s) => s.path.endsWith('governance-graph.mase'));
if (!source) throw new Error('stdlib governance graph not found');
const institution = compileSources([source]).program.institutions[0];
if (!institution) throw new Error('governance graph did not compile');
const transitionIds = institution.states.flatMap((s) => s.transitions.map((t) => t.id));

describe('the generated TypeScript module', () => {
  it('behaves exactly like the machine the runtime builds', async () => {
    const file = join(here, '../../.generated/governance-graph.machine.ts');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, machineModule(institution));
    const generated = (await import(file)) as { machine: AnyStateMachine };
    const live = createInstitutionMachine(institution);

    // A step is a round (which conditions held) or a run of quiet rounds (how many).
    const rounds = fc.array(
      fc.oneof(
        fc.array(fc.boolean(), {
          minLength: transitionIds.length,
          maxLength: transitionIds.length,
        }),
        fc.integer({ min: 1, max: 4 }),
      ),
      {
        minLength: 1,
        maxLength: 60,
      },
    );
    fc.assert(
      fc.property(rounds, (script) => {
        let [a, actionsA] = initialTransition(live);
        let [b, actionsB] = initialTransition(generated.machine);
        const effects = (actions: readonly { type: string; params?: unknown }[]) =>
          actions.map((x) => ({ type: x.type, params: x.params }));
        expect(effects(actionsB)).toEqual(effects(actionsA));
        script.forEach((step, i) => {
          const event =
            typeof step === 'number'
              ? { type: 'quiet' as const, round: i + 1, rounds: step }
              : {
                  type: 'round' as const,
                  round: i + 1,
                  holds: Object.fromEntries(transitionIds.map((id, k) => [id, step[k] ?? false])),
                };
          [a, actionsA] = transition(live, a, event);
          [b, actionsB] = transition(generated.machine, b, event);
          expect(b.value).toEqual(a.value);
          expect(b.context).toEqual(a.context);
          expect(effects(actionsB)).toEqual(effects(actionsA));
        });
      }),
      { numRuns: 200 },
    );
  });
});
