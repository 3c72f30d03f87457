import { describe, expect, it } from 'vitest';
import { PolicyError } from '../../runtime/agents/policy.js';
import { EXIT, MaseUserError, UsageProblem } from '../../runtime/errors.js';
import { DirectoryLockedError, DirectoryNotEmptyError } from '../../runtime/files.js';
import { CacheError } from '../../runtime/llm/cache.js';
import { ModelFileError } from '../../runtime/llm/model-files.js';
import { PromptTemplateError } from '../../runtime/llm/prompts.js';
import { MarketError } from '../../runtime/market/instance.js';
import { RenderError } from '../../runtime/render/graphviz.js';
import { ReportError } from '../../runtime/report/run-report.js';
import { ArtifactError } from '../../runtime/run/artifacts.js';
import { ReplayError } from '../../runtime/run/replay.js';
import { ResolveError } from '../../runtime/run/resolve.js';
import { ShowError } from '../../runtime/run/summary.js';
import { SourceError } from '../../runtime/sources.js';
import { SweepCliError } from '../../runtime/sweep/cli.js';
import { SweepProblem } from '../../runtime/sweep/errors.js';
import { QueueError } from '../../runtime/sweep/redis.js';

/**
 * Every error a layer raises for the user is a MaseUserError whose exit code is the one the
 * CLI has always given it (docs/architecture.md, "Exit codes"): `mase` maps errors to exits
 * by reading `exitCode`, with no list of classes, so a class that is not one would end as an
 * internal error (exit 3).
 */
describe('errors for the user carry their exit codes', () => {
  const cases: [string, Error, number][] = [
    ['UsageProblem: a bad flag', new UsageProblem('--rounds takes a whole number'), EXIT.usage],
    ['SourceError: a file that is not a source', new SourceError('no such file'), EXIT.usage],
    ['ResolveError: an experiment that cannot be built', new ResolveError('no'), EXIT.usage],
    ['PolicyError: an unknown policy', new PolicyError('no policy'), EXIT.usage],
    ['MarketError: parameters that make no market', new MarketError('no firms'), EXIT.usage],
    ['PromptTemplateError', new PromptTemplateError('unknown section'), EXIT.usage],
    ['CacheError: a cache that cannot be opened', new CacheError('cannot open'), EXIT.usage],
    ['ArtifactError: a directory that is not a run', new ArtifactError('not a run'), EXIT.usage],
    ['DirectoryLockedError', new DirectoryLockedError('in use', null), EXIT.usage],
    ['DirectoryNotEmptyError', new DirectoryNotEmptyError('not empty'), EXIT.usage],
    ['ReplayError: a run that cannot be replayed', new ReplayError('no cache'), EXIT.usage],
    ['ShowError: not a run directory', new ShowError('no events'), EXIT.usage],
    ['ReportError: not a run directory', new ReportError('no manifest'), EXIT.usage],
    ['RenderError: a format this machine cannot draw', new RenderError('no dot'), EXIT.usage],
    ['ModelFileError: a model that is not there', new ModelFileError('missing'), EXIT.sourceErrors],
    ['SweepProblem: a request that cannot work', new SweepProblem('no'), EXIT.usage],
    ['QueueError: a queue that cannot be reached', new QueueError('no redis'), EXIT.usage],
    ['SweepCliError: a sweep file with errors', new SweepCliError('E_…', 1), EXIT.sourceErrors],
  ];
  it.each(cases)('%s', (_, error, exitCode) => {
    expect(error).toBeInstanceOf(MaseUserError);
    expect((error as MaseUserError).exitCode).toBe(exitCode);
  });
});
