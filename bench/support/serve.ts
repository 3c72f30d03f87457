/**
 * The scripted chat-completions server in a process of its own, for benchmarks: like a
 * real endpoint it does not share the client's event loop. Every request is answered
 * after `--latency` ms with the same valid one-product answer; the URL is printed on the
 * first line of stdout, and the server stops when stdin closes.
 */
import { answer, startScriptedServer } from './openai-server.js';

const latency = Number(process.argv[process.argv.indexOf('--latency') + 1] ?? 200);
const server = await startScriptedServer(() => answer([20], 'steady'), { latencyMs: latency });
process.stdout.write(`${server.url}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void server.close().then(() => process.exit(0));
});
