import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP server on 127.0.0.1 speaking OpenAI's chat-completions protocol, scripted
 * per request: tests decide, for each request it receives, whether it answers (with any
 * content), fails with a status (and `Retry-After`), hangs past the client's timeout,
 * drops the connection, or answers with no content.
 */

export type Reply =
  | { readonly kind: 'answer'; readonly content: string; readonly fingerprint?: string }
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly retryAfter?: string;
      readonly message?: string;
    }
  | { readonly kind: 'hang' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'empty' };

/** What the server saw of one request. */
export interface SeenRequest {
  readonly body: {
    model: string;
    messages: { role: string; content: string }[];
    response_format?: unknown;
    temperature?: number;
    seed?: number;
    max_tokens?: number;
  };
  readonly authorization: string | undefined;
  readonly path: string;
}

export interface ScriptedServer {
  readonly url: string;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

/** The firm a request is for, read from its system prompt ("You are f1, …"). */
export function firmOf(request: SeenRequest): string | undefined {
  const system = request.body.messages.find((m) => m.role === 'system')?.content ?? '';
  return /You are (\w+)/.exec(system)?.[1];
}

/** The round a request is for, read from its round prompt ("Round 3…"). */
export function roundOf(request: SeenRequest): number | undefined {
  const user = request.body.messages.find((m) => m.role === 'user')?.content ?? '';
  const match = /Round (\d+)/.exec(user);
  return match ? Number(match[1]) : undefined;
}

/** Whether a request asks for a talk turn ("Round 3, before anyone acts: talk turn 1 …"). */
export function isTalkTurn(request: SeenRequest): boolean {
  const user = request.body.messages.find((m) => m.role === 'user')?.content ?? '';
  return user.includes('before anyone acts');
}

export async function startScriptedServer(
  script: (request: SeenRequest, index: number) => Reply | Promise<Reply>,
  options: { latencyMs?: number } = {},
): Promise<ScriptedServer> {
  const requests: SeenRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      let body: SeenRequest['body'];
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'bad JSON' } }));
        return;
      }
      const seen: SeenRequest = {
        body,
        authorization: req.headers.authorization,
        path: req.url ?? '',
      };
      const index = requests.length;
      requests.push(seen);
      const reply = await script(seen, index);
      if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
      switch (reply.kind) {
        case 'hang':
          hanging.add(res);
          return;
        case 'drop':
          req.socket.destroy();
          return;
        case 'status':
          res.writeHead(reply.status, {
            'content-type': 'application/json',
            ...(reply.retryAfter !== undefined ? { 'retry-after': reply.retryAfter } : {}),
          });
          res.end(
            JSON.stringify({ error: { message: reply.message ?? `status ${reply.status}` } }),
          );
          return;
        default: {
          const content = reply.kind === 'empty' ? null : reply.content;
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({
              id: `chatcmpl-${index}`,
              object: 'chat.completion',
              created: 0,
              model: body.model,
              ...(reply.kind === 'answer' && reply.fingerprint
                ? { system_fingerprint: reply.fingerprint }
                : {}),
              choices: [
                {
                  index: 0,
                  finish_reason: 'stop',
                  message: { role: 'assistant', content },
                },
              ],
              usage: {
                prompt_tokens: Math.ceil(JSON.stringify(body.messages).length / 4),
                completion_tokens: Math.ceil((content ?? '').length / 4),
                total_tokens: 0,
              },
            }),
          );
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.socket?.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A valid answer for a 2-product quantity market. */
export const answer = (quantity: number[], rationale = 'steady'): Reply => ({
  kind: 'answer',
  content: JSON.stringify({ quantity, plans: 'keep going', insights: 'none', rationale }),
});
