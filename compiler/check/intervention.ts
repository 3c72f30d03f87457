// Checking `intervention` declarations (docs/checkpoints.md): what a fork changes, as text.
// The institution and its overrides are checked here; the agents, messages, edges and
// rounds name things of the run a fork continues, and are checked when it forks it.
import type { InterventionDecl } from '../../grammar/ast.js';
import { didYouMean } from '../../grammar/suggest.js';
import type { IrIntervention, IrInterventionChange, IrPolicy } from '../ir.js';
import { literalValue, onlyOnce, Reporter } from './common.js';
import { checkOverrides, checkPolicy, integerLiteral } from './experiment.js';
import { checkInstitution, standaloneContext } from './institution.js';
import type { SymbolTable, Worlds } from './symbols.js';

/** A message id as the trace names it: `m<round>.<talk round>.<k>`. */
const MESSAGE_ID = /^m\d+\.\d+\.\d+$/;

export function checkIntervention(
  decl: InterventionDecl,
  path: string,
  symbols: SymbolTable,
  markets: Worlds,
  reporter: Reporter,
): IrIntervention | undefined {
  if (decl.items.length === 0)
    return reporter.report(
      'E_MISSING',
      path,
      decl.name.range,
      `intervention \`${decl.name.name}\` changes nothing`,
      'add e.g. `agents nash`, `institution none`, `drop message "m12.1.1"` or `reset memory f1`',
    );
  onlyOnce(
    decl.items.filter((i) => i.kind !== 'use' || i.role === 'institution'),
    'use',
    'the institution is given twice',
    path,
    reporter,
  );
  const changes: IrInterventionChange[] = [];
  let all: IrPolicy | undefined;
  const perFirm: Record<string, IrPolicy> = Object.create(null);
  let agents = false;
  for (const item of decl.items) {
    switch (item.kind) {
      case 'agents': {
        agents = true;
        if (item.all) {
          if (all)
            reporter.report(
              'E_DUPLICATE',
              path,
              item.range,
              'the policy of all agents is given twice',
            );
          all = checkPolicy(item.all, path, reporter);
        }
        for (const { firm, policy } of item.perFirm) {
          if (perFirm[firm.name]) {
            reporter.report(
              'E_DUPLICATE',
              path,
              firm.range,
              `\`${firm.name}\` is given two policies`,
            );
            continue;
          }
          perFirm[firm.name] = checkPolicy(policy, path, reporter);
        }
        break;
      }
      case 'use': {
        if (item.role !== 'institution') {
          reporter.report(
            'E_SCOPE',
            path,
            item.range,
            `an intervention may switch the institution, not the ${item.role}`,
            'a fork continues the run in its own world',
          );
          break;
        }
        const name = item.target.name;
        const declared = symbols.institutions.get(name);
        if (!declared) {
          reporter.report(
            'E_UNKNOWN_NAME',
            path,
            item.target.range,
            `no institution \`${name}\``,
            didYouMean(name, symbols.institutions.keys()) ??
              `institutions: ${[...symbols.institutions.keys()].join(', ')}`,
          );
          break;
        }
        // Its parameters, from the institution checked on its own (the world it will govern
        // is the forked run's, checked against it when it forks).
        const ir = checkInstitution(
          declared.decl,
          declared.path,
          standaloneContext(declared.decl, declared.path, markets),
          new Reporter(),
        );
        if (!ir) {
          // Its parameters are not known: its overrides cannot be checked, nor left out.
          reporter.report(
            'E_SCOPE',
            path,
            item.target.range,
            `institution \`${name}\` does not check on its own, so an intervention cannot switch to it`,
            `\`mase check ${declared.path}\` says why`,
          );
          break;
        }
        const overrides = checkOverrides(item.args, ir.params, name, path, reporter);
        changes.push({ kind: 'institution', name, overrides });
        break;
      }
      case 'drop_message':
      case 'replace_message':
        if (!MESSAGE_ID.test(item.id)) {
          reporter.report(
            'E_VALUE',
            path,
            item.range,
            `\`${item.id}\` is not a message id`,
            'a message is named as the trace names it: m<round>.<talk round>.<k>, e.g. "m12.1.1"',
          );
          break;
        }
        if (
          changes.some(
            (c) => (c.kind === 'drop_message' || c.kind === 'replace_message') && c.id === item.id,
          )
        ) {
          reporter.report(
            'E_DUPLICATE',
            path,
            item.range,
            `message \`${item.id}\` is dropped or replaced twice`,
            'an intervention drops a message or replaces it, once',
          );
          break;
        }
        changes.push(
          item.kind === 'drop_message'
            ? { kind: 'drop_message', id: item.id }
            : { kind: 'replace_message', id: item.id, text: item.text },
        );
        break;
      case 'inject_message':
        changes.push({
          kind: 'inject_message',
          from: item.from.name,
          ...(item.to ? { to: item.to.map((n) => n.name) } : {}),
          text: item.text,
        });
        break;
      case 'mute':
        if (item.from.name === item.to.name) {
          reporter.report(
            'E_VALUE',
            path,
            item.range,
            `\`${item.from.name}\` cannot be muted to itself`,
          );
          break;
        }
        changes.push({ kind: 'mute', from: item.from.name, to: item.to.name, both: item.both });
        break;
      case 'reset':
        changes.push({ kind: 'reset', agents: item.agents.map((n) => n.name) });
        break;
      case 'param': {
        // Whose parameter it is, and whether the value fits, is known when it forks a run.
        const value = literalValue(item.value);
        if (value === undefined) {
          reporter.report(
            'E_PARAM_TYPE',
            path,
            item.value.range,
            `the value of \`${item.name.name}\` must be a literal value`,
          );
          break;
        }
        if (changes.some((c) => c.kind === 'param' && c.name === item.name.name)) {
          reporter.report(
            'E_DUPLICATE',
            path,
            item.name.range,
            `\`${item.name.name}\` is given twice`,
          );
          break;
        }
        changes.push({ kind: 'param', name: item.name.name, value });
        break;
      }
      case 'benchmark_action':
      case 'pardon': {
        const round = integerLiteral(item.round, 'the round', path, reporter, 1);
        if (round !== undefined) changes.push({ kind: item.kind, agent: item.agent.name, round });
        break;
      }
    }
  }
  if (agents) changes.unshift({ kind: 'agents', ...(all ? { all } : {}), perFirm });
  return {
    kind: 'intervention',
    name: decl.name.name,
    title: decl.title ?? decl.name.name,
    path,
    changes,
  };
}
