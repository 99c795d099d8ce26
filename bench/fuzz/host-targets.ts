/**
 * The host side's properties for bench/fuzz/targets.ts: requests to the daemon's API router
 * and texts for the config loader.
 */
import { request } from 'node:http';
import fc from 'fast-check';
import { parseConfigText } from '../../src/api/config-file.js';
import { isPvmError } from '../../src/core/errors.js';

/** What the daemon may answer a request with; anything else (a 500, a reset) is a finding. */
export const DOCUMENTED_STATUSES = new Set([200, 201, 400, 401, 403, 404, 405, 409, 413, 422]);

const segment = fc.oneof(
  fc.constantFrom('v1', 'domains', 'restore', 'events', 'version', 'openapi.yaml', 'console', 'save', 'pause'),
  fc.constantFrom(
    'sched',
    'unpause',
    'stats',
    'reboot',
    'shutdown',
    'vm1',
    '1',
    '..',
    '%00',
    '%2F',
    encodeURIComponent('ünï'),
    '',
  ),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
);

/** One request: method, path, optional query, headers and body. */
export const requestArb = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
  path: fc.array(segment, { minLength: 0, maxLength: 5 }).map((s) => `/${s.join('/')}`),
  query: fc.option(
    fc.dictionary(fc.constantFrom('write', 'x', 'paused'), fc.constantFrom('true', 'false', '1', ''), { maxKeys: 2 }),
  ),
  contentType: fc.constantFrom('application/json', 'text/plain', 'application/json; charset=utf-8', ''),
  body: fc.oneof(
    fc.constant(undefined),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    fc
      .record({
        config: fc.dictionary(
          fc.constantFrom('name', 'memory', 'smp', 'kernel', 'disks', 'nets', 'append', 'mode', 'console', 'x'),
          fc.jsonValue({ maxDepth: 2 }),
        ),
        paused: fc.boolean(),
      })
      .map((v) => JSON.stringify(v)),
    fc
      .record({ path: fc.oneof(fc.string(), fc.constant('/dev/zero'), fc.constant('rel')), keep: fc.boolean() })
      .map((v) => JSON.stringify(v)),
    fc
      .dictionary(fc.constantFrom('weight', 'cap', 'x'), fc.oneof(fc.integer(), fc.jsonValue({ maxDepth: 1 })), {
        maxKeys: 3,
      })
      .map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 64 }),
  ),
});

export type FuzzRequest = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

/** Sends `r` to the daemon on `socketPath`; resolves with the status and body text (never rejects on HTTP errors). */
export function send(socketPath: string, r: FuzzRequest): Promise<{ status: number; text: string }> {
  const q = r.query ? `?${new URLSearchParams(r.query).toString()}` : '';
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method: r.method,
        path: `${r.path}${q}`,
        // Node's client frames no body of a GET, HEAD or DELETE by itself: without a length the
        // daemon rightly reads the body as a malformed next request on the kept-alive socket.
        headers: {
          ...(r.contentType ? { 'content-type': r.contentType } : {}),
          ...(r.body !== undefined ? { 'content-length': String(Buffer.byteLength(r.body)) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString('utf8');
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        // An events stream never ends by itself: its status is the answer.
        if (res.headers['content-type'] === 'application/x-ndjson' && r.method === 'GET') {
          resolve({ status: res.statusCode ?? 0, text: '' });
          req.destroy();
        }
      },
    );
    req.on('error', reject);
    // No answer in 10 s is a finding too (a wedged request), not a hung fuzz run.
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer in 10 s to ${JSON.stringify(r)}`)));
    req.end(r.body);
  });
}

/**
 * The router property: every request gets a documented status, and an error answer is JSON
 * `{ error: { code, message } }` with a one-line message.
 */
export async function checkRouterAnswer(socketPath: string, r: FuzzRequest): Promise<void> {
  const { status, text } = await send(socketPath, r);
  if (!DOCUMENTED_STATUSES.has(status)) throw new Error(`status ${status} for ${JSON.stringify(r)}: ${text}`);
  if (status >= 400 && r.method !== 'HEAD') {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code !== 'string' || typeof body.error.message !== 'string') {
      throw new Error(`error without code and message: ${text}`);
    }
    if (body.error.message.includes('\n    at ')) throw new Error(`a stack trace in: ${text}`);
  }
}

const yamlish = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc
    .array(
      fc.constantFrom(
        'domains:\n',
        '  - name: a\n',
        '    memory: 16M\n',
        '    disks: [x.img]\n',
        '    nets: [lan, "lan,mac=01:00:00:00:00:01"]\n',
        'a: &a [1,2]\n',
        'b: [*a, *a, *a]\n',
        '- *a\n',
        '    smp: 1e309\n',
        '    append: "\\u0000"\n',
        'switches: { lan: { enforceSourceMac: false } }\n',
        '!!binary AAAA\n',
        '%YAML 1.2\n---\n',
        '? [complex, key]\n: v\n',
        '    console: { file: /dev/null }\n',
      ),
      { maxLength: 12 },
    )
    .map((l) => l.join('')),
);

/** One config text in JSON or YAML. */
export const configTextArb = fc.record({ text: yamlish, format: fc.constantFrom('json' as const, 'yaml' as const) });

/** The config loader property: a config, or a PvmError('usage') with a message; nothing else. */
export function checkConfigText(c: { text: string; format: 'json' | 'yaml' }): void {
  try {
    parseConfigText(c.text, { source: 'fuzz.yaml', format: c.format });
  } catch (e) {
    if (!isPvmError(e) || e.kind !== 'usage' || e.message.length === 0) throw e;
  }
}
