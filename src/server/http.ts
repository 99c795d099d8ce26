import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ApiError } from '../api/errors.js';
import type { Logger } from '../host/logger.js';
import type { DaemonMetrics } from './metrics.js';

/**
 * The daemon's web listener (`pvm daemon --http 127.0.0.1:PORT`): the dashboard, the JSON API
 * under /v1 (the same handler as the Unix socket's), the console WebSocket, and /metrics.
 *
 * Every request needs the token, as a bearer header (scripts, Prometheus) or as the `pvm_token`
 * cookie the dashboard's login sets (HttpOnly, SameSite=Strict). Without it every route answers
 * 401, the WebSocket included. A browser sends cookies with requests another site makes, so
 * every WebSocket and every state-changing request (anything but GET and HEAD) must also come
 * from this listener's own origin: a foreign `Origin` is refused with 403, and so is a
 * cookie-authenticated one without an `Origin`. The `Host` header must name this listener
 * (DNS rebinding). `GET /v1/health` alone needs none of this (orchestrators' probes). Pages are served with a Content-Security-Policy that allows no inline or
 * foreign script.
 */
export interface HttpListenerOptions {
  readonly host: string;
  readonly port: number;
  /** The bearer token (at least 16 characters). */
  readonly token: string;
  /** Where the dashboard's files are (default: the build's dist/dashboard). */
  readonly root?: string;
}

export interface HttpRoutes {
  /** A request under /v1 (token and origin already checked). */
  api(req: IncomingMessage, res: ServerResponse): void;
  /** An upgrade request (token and origin already checked). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  readonly metrics: DaemonMetrics;
}

export interface HttpListener {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export const TOKEN_COOKIE = 'pvm_token';
/**
 * The liveness probe: answered on every listener without the token (an orchestrator's probe
 * carries none), before any other check, with a body that tells nothing but that the daemon's
 * event loop answers (docs/cluster.md).
 */
export const HEALTH_PATH = '/v1/health';
export const HEALTH_BODY = '{"status":"ok"}';

/** Answers `GET|HEAD /v1/health` and returns true; false for any other request. */
export function answerHealth(req: IncomingMessage, res: ServerResponse): boolean {
  if ((req.method !== 'GET' && req.method !== 'HEAD') || requestUrl(req.url)?.pathname !== HEALTH_PATH) return false;
  req.resume();
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(HEALTH_BODY),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : HEALTH_BODY);
  return true;
}
/** The dashboard's files: dist/dashboard, built by `npm run build` (web/build.mjs). */
export const DASHBOARD_ROOT = fileURLToPath(new URL('../../dashboard/', import.meta.url));
/** Largest login form accepted. */
const MAX_LOGIN_BYTES = 4096;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
const same = (given: string | undefined, want: Buffer): boolean =>
  given !== undefined && timingSafeEqual(digest(given), want);

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

const LOGIN_PAGE = (message: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pvm: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 28rem; margin: 4rem auto">
<h1>pvm daemon</h1>
<p>${message}</p>
<form method="post" action="/login">
<label>Token <input name="token" type="password" autocomplete="current-password" required autofocus></label>
<button type="submit">Sign in</button>
</form>
<p><small>The token is the one the daemon was started with (<code>$PVM_TOKEN</code> or <code>--token-file</code>).</small></p>
</body></html>
`;

/**
 * The path and query of a request target. Node passes the target through as sent, and some
 * (`//[`, a bare `http://`) are not URLs at all: those are null, for a 400, never an exception.
 */
export function requestUrl(target: string | undefined): URL | null {
  try {
    const url = new URL(target ?? '/', 'http://localhost');
    return url.host === 'localhost' ? url : null;
  } catch {
    return null;
  }
}

/** How a request proved it knows the token. */
type Auth = 'header' | 'cookie' | 'none';

export async function startHttpListener(
  options: HttpListenerOptions,
  routes: HttpRoutes,
  logger: Logger,
): Promise<HttpListener> {
  if (options.token.length < 16)
    throw new ApiError('bad-request', 'the HTTP listener needs a token of at least 16 characters');
  const want = digest(options.token);
  const root = options.root ?? DASHBOARD_ROOT;
  const server: Server = createServer();
  let port = options.port;
  const log = logger.child({ transport: 'http' });

  /** host:port forms this listener answers to. */
  const hosts = (): Set<string> => {
    const names = new Set([options.host, 'localhost', '127.0.0.1', '[::1]']);
    if (options.host.includes(':') && !options.host.startsWith('[')) names.add(`[${options.host}]`);
    return new Set([...names].map((h) => `${h}:${port}`));
  };
  const origins = (): Set<string> => new Set([...hosts()].map((h) => `http://${h}`));

  const auth = (req: IncomingMessage): Auth => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (m && same(m[1], want)) return 'header';
    if (same(cookie(req, TOKEN_COOKIE), want)) return 'cookie';
    return 'none';
  };

  /** Null when the request may go on; else why it is refused (403). */
  const originProblem = (req: IncomingMessage, how: Auth, stateChanging: boolean): string | null => {
    if (!hosts().has((req.headers.host ?? '').toLowerCase())) {
      return `Host ${JSON.stringify(req.headers.host ?? '')} is not this listener`;
    }
    if (!stateChanging) return null;
    const origin = req.headers.origin;
    if (origin === undefined) return how === 'cookie' ? 'a request from a browser must carry its Origin' : null;
    return origins().has(origin.toLowerCase()) ? null : `Origin ${JSON.stringify(origin)} is not this listener`;
  };

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, extra = {}): void => {
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      ...extra,
    });
    res.end(body);
  };
  const sendError = (res: ServerResponse, err: ApiError, extra = {}): void =>
    send(res, err.status, 'application/json', JSON.stringify(err.toJSON()), extra);

  const wantsHtml = (req: IncomingMessage): boolean => (req.headers.accept ?? '').includes('text/html');

  const setCookie = (res: ServerResponse): void => {
    res.writeHead(303, {
      ...SECURITY_HEADERS,
      location: '/',
      'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(options.token)}; HttpOnly; SameSite=Strict; Path=/`,
      'content-length': 0,
    });
    res.end();
  };

  const login = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_LOGIN_BYTES) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token') ?? undefined;
      if (same(token, want)) return setCookie(res);
      log.warn({ remote: req.socket.remoteAddress }, 'login with a wrong token');
      send(res, 401, 'text/html; charset=utf-8', LOGIN_PAGE('That token is not the daemon’s. Try again.'));
    });
    req.on('error', () => req.destroy());
  };

  const serveFile = (req: IncomingMessage, res: ServerResponse, path: string) => {
    const rel = normalize(path === '/' ? '/index.html' : path);
    const file = join(root, rel);
    if (!file.startsWith(root.endsWith(sep) ? root : root + sep)) {
      return sendError(res, new ApiError('not-found', `no page ${path}`));
    }
    let body: Buffer;
    try {
      if (!statSync(file).isFile()) throw new Error('not a file');
      body = readFileSync(file);
    } catch {
      if (path === '/' || path === '/index.html') {
        return sendError(
          res,
          new ApiError('not-found', `the dashboard is not built (${root} is missing): run npm run build`),
        );
      }
      return sendError(res, new ApiError('not-found', `no page ${path}`));
    }
    if (req.method === 'HEAD') body = Buffer.alloc(0);
    send(res, 200, TYPES[extname(file)] ?? 'application/octet-stream', body);
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (answerHealth(req, res)) return;
    const url = requestUrl(req.url);
    if (url === null) {
      req.resume();
      return sendError(res, new ApiError('bad-request', 'the request target is not a path'));
    }
    const method = req.method ?? 'GET';
    const stateChanging = method !== 'GET' && method !== 'HEAD';
    const how = auth(req);
    // Signing in: GET /?token=T (the address the daemon prints) or the login form.
    if (how === 'none' && method === 'GET' && url.pathname === '/' && url.searchParams.has('token')) {
      if (same(url.searchParams.get('token') ?? undefined, want) && !originProblem(req, 'none', false)) {
        return setCookie(res);
      }
    }
    if (url.pathname === '/login' && method === 'POST') {
      const problem = originProblem(req, 'cookie', true);
      if (problem) {
        req.resume();
        return sendError(res, new ApiError('forbidden', problem));
      }
      return login(req, res);
    }
    if (how === 'none') {
      log.warn({ remote: req.socket.remoteAddress, method, path: url.pathname }, 'request without a valid token');
      req.resume();
      if (wantsHtml(req) && method === 'GET') {
        return send(res, 401, 'text/html; charset=utf-8', LOGIN_PAGE('Sign in with the daemon’s token.'), {
          'www-authenticate': 'Bearer',
        });
      }
      return sendError(res, new ApiError('unauthorized', 'missing or wrong token'), { 'www-authenticate': 'Bearer' });
    }
    const problem = originProblem(req, how, stateChanging);
    if (problem) {
      log.warn({ remote: req.socket.remoteAddress, method, path: url.pathname, origin: req.headers.origin }, problem);
      req.resume();
      return sendError(res, new ApiError('forbidden', problem));
    }
    if (url.pathname.startsWith('/v1/')) {
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
      return routes.api(req, res);
    }
    if (url.pathname === '/metrics' && method === 'GET') {
      routes.metrics.render().then(
        (m) => send(res, 200, m.contentType, m.text),
        (e) => {
          log.error({ err: e }, 'metrics failed');
          sendError(res, new ApiError('internal', 'metrics failed'));
        },
      );
      return;
    }
    if (url.pathname === '/logout' && method === 'POST') {
      res.writeHead(303, {
        ...SECURITY_HEADERS,
        location: '/',
        'set-cookie': `${TOKEN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`,
        'content-length': 0,
      });
      return void res.end();
    }
    if (method !== 'GET' && method !== 'HEAD') {
      req.resume();
      return sendError(res, new ApiError('bad-request', `${method} ${url.pathname} is not a route`));
    }
    serveFile(req, res, url.pathname);
  });

  const rawRefusal = (socket: Duplex, err: ApiError): void => {
    const body = JSON.stringify(err.toJSON());
    socket.end(
      `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  };

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const how = auth(req);
    if (how === 'none') {
      log.warn({ remote: req.socket.remoteAddress, path: req.url }, 'upgrade without a valid token');
      return rawRefusal(socket, new ApiError('unauthorized', 'missing or wrong token'));
    }
    // A WebSocket is always checked: a browser opens one to any site with that site's cookies.
    const problem = originProblem(req, how, true);
    if (problem) {
      log.warn({ remote: req.socket.remoteAddress, path: req.url, origin: req.headers.origin }, problem);
      return rawRefusal(socket, new ApiError('forbidden', problem));
    }
    routes.upgrade(req, socket, head);
  });
  server.on('clientError', (_err, socket: Duplex) => {
    if (socket.writable) rawRefusal(socket, new ApiError('bad-request', 'malformed HTTP request'));
  });
  // A client that opens a connection and sends nothing (or drips headers) is cut off.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new ApiError('io', `cannot listen on ${options.host}:${options.port}: ${e.message}`)),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const addr = server.address();
  port = typeof addr === 'object' && addr ? addr.port : options.port;
  if (!['127.0.0.1', '::1', 'localhost'].includes(options.host)) {
    log.warn({ host: options.host }, 'the HTTP listener is not on loopback and has no TLS: the token travels in clear');
  }
  return {
    host: options.host,
    port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
