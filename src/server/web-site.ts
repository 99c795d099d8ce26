import { readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PvmError } from '../core/errors.js';
import { requestUrl } from './http.js';

/** pvm in a browser tab, as `npm run build` writes it (web/build.mjs). */
export const WEB_SITE_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.elf': 'application/octet-stream',
};

/**
 * The headers of every answer: cross-origin isolation (COOP + COEP), which browsers require
 * before they give a page SharedArrayBuffer and shared WebAssembly memory, and a CSP that
 * allows the page's own scripts and workers only (images by URL are fetched from this origin
 * or any origin that allows it with CORS).
 */
export const SITE_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
  'content-security-policy':
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self' 'unsafe-inline'; " +
    "connect-src *; img-src 'self' data: blob:; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
};

export interface WebSite {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `pvm web`: serves the static site (dist/web) on `host:port`, read-only, files under `root`
 * only. `extra` maps URL paths to local files (a kernel or an initramfs to boot by URL).
 */
export async function startWebSite(
  options: { host?: string; port?: number; root?: string; extra?: Readonly<Record<string, string>> } = {},
): Promise<WebSite> {
  const host = options.host ?? '127.0.0.1';
  const root = options.root ?? WEB_SITE_ROOT;
  const extra = options.extra ?? {};
  const answer = (res: ServerResponse, status: number, type: string, body: Buffer | string): void => {
    res.writeHead(status, { ...SITE_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const url = requestUrl(req.url);
    if (url === null) return answer(res, 400, 'text/plain', 'the request target is not a path\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'text/plain', 'read-only site\n');
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return answer(res, 400, 'text/plain', 'bad path\n');
    }
    const mapped = Object.hasOwn(extra, path) ? extra[path] : undefined;
    const file = mapped ?? join(root, normalize(path === '/' ? '/index.html' : path));
    if (mapped === undefined && !file.startsWith(root.endsWith(sep) ? root : root + sep)) {
      return answer(res, 404, 'text/plain', 'not found\n');
    }
    let body: Buffer;
    try {
      if (!statSync(file).isFile()) throw new Error('not a file');
      body = readFileSync(file);
    } catch {
      const missing = path === '/' ? `the site is not built (${root}): run npm run build\n` : 'not found\n';
      return answer(res, 404, 'text/plain', missing);
    }
    answer(res, 200, TYPES[extname(file)] ?? 'application/octet-stream', req.method === 'HEAD' ? '' : body);
  });
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new PvmError('io', `cannot listen on ${host}:${options.port ?? 8080}: ${e.message}`)),
    );
    server.listen(options.port ?? 8080, host, () => resolve());
  });
  const addr = server.address();
  return {
    host,
    port: typeof addr === 'object' && addr ? addr.port : (options.port ?? 8080),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
