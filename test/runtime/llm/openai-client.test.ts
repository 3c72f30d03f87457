import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The fetch OpenAIChatClient gives the openai package, internal to it.
import { pooledFetch } from '../../../runtime/llm/openai-client.js';

/**
 * The fetch the openai package is given: what it returns must read like the built-in
 * fetch's answer (status, headers, body), and its failures must look like the built-in
 * fetch's (an AbortError on abort, a TypeError when the connection fails), since the
 * package tells timeouts and failed connections apart by them.
 */

let server: Server;
let base: string;
const seen: { method: string; url: string; headers: Record<string, unknown>; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (req.url === '/empty') {
        res.writeHead(204).end();
      } else if (req.url === '/hang') {
        // Never answers: the caller's signal has to end it.
      } else if (req.url === '/drop') {
        req.socket.destroy();
      } else {
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '3' });
        res.end(JSON.stringify({ error: { message: 'slow down' } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('the pooled fetch', () => {
  const agent = new Agent({ connections: null });
  const pooled = pooledFetch(agent);
  afterAll(() => agent.close());

  it('sends method, headers and body, and returns status, headers and body', async () => {
    const response = await pooled(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
      body: '{"model":"m"}',
    });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('3');
    expect(response.headers.get('set-cookie')).toBe('a=1, b=2');
    expect(response.ok).toBe(false);
    const copy = response.clone();
    expect(await response.json()).toEqual({ error: { message: 'slow down' } });
    // A body is read once, as the built-in fetch's is; a clone made before keeps its own.
    expect(response.bodyUsed).toBe(true);
    await expect(response.text()).rejects.toBeInstanceOf(TypeError);
    expect(await copy.text()).toBe('{"error":{"message":"slow down"}}');
    const request = seen.at(-1);
    expect(request).toMatchObject({
      method: 'POST',
      url: '/v1/chat/completions',
      body: '{"model":"m"}',
    });
    expect(request?.headers.authorization).toBe('Bearer k');
  });

  it('gives the body as a stream to whoever asks for one', async () => {
    const response = await pooled(`${base}/v1/chat/completions`, { method: 'POST', body: '{}' });
    const reader = response.body?.getReader();
    const chunks: Uint8Array[] = [];
    for (let r = await reader?.read(); r && !r.done; r = await reader?.read()) chunks.push(r.value);
    expect(Buffer.concat(chunks).toString()).toBe('{"error":{"message":"slow down"}}');
  });

  it('gives no body for a 204', async () => {
    const response = await pooled(`${base}/empty`);
    expect(response.status).toBe(204);
    expect(response.body).toBeNull();
  });

  it('fails with an AbortError when the signal aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const failure = await pooled(`${base}/hang`, { signal: controller.signal }).catch((e) => e);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).name).toBe('AbortError');
  });

  it('fails with a TypeError when the connection drops', async () => {
    const failure = await pooled(`${base}/drop`, { method: 'POST', body: 'x' }).catch((e) => e);
    expect(failure).toBeInstanceOf(TypeError);
    expect((failure as TypeError).cause).toBeInstanceOf(Error);
  });

  it('hands bodies it does not read itself to the built-in fetch', async () => {
    const form = new URLSearchParams({ a: '1' });
    const response = await pooled(`${base}/form`, { method: 'POST', body: form });
    expect(response.status).toBe(429);
    expect(seen.at(-1)?.body).toBe('a=1');
  });
});
