import { Option } from 'commander';

/** The limits on model answers and runs built from them, shared by run, sweep, worker and demo. */
export const answerOptions = {
  maxAnswerBytes: () =>
    new Option(
      '--max-answer-bytes <n>',
      'the largest model answer kept, in bytes (default 65536); a larger one is unusable',
    ),
  maxRetryWait: () =>
    new Option(
      '--max-retry-wait <ms>',
      'the longest one question waits for retries in all (default 60000); a longer Retry-After is not waited for',
    ),
  maxFallbackShare: () =>
    new Option(
      '--max-fallback-share <x>',
      'the share of fallback decisions (0–1, default 0.1) above which a run ends degraded, exit 1',
    ),
};
