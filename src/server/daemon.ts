import { createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Command, Progress } from '../api/commands.js';
import type { ControlPlane } from '../api/control.js';
import { ApiError, toApiError } from '../api/errors.js';
import type { Logger } from '../host/logger.js';
import { SwitchLinks } from '../host/switch-links.js';
import { answerHealth, type HttpListener, type HttpListenerOptions, requestUrl, startHttpListener } from './http.js';
import { DaemonMetrics } from './metrics.js';
import { MigrationEndpoint, type MigrationEndpointOptions, migrationHost } from './migration.js';
import { ApiSpec, type Match, openApiYaml } from './openapi.js';
import { ConsoleEndpoint } from './web-console.js';

/** Which listener a request came in on. */
export type Transport = 'unix' | 'tcp' | 'http';

export const API_VERSION = '1';
export const PVM_VERSION = '0.1.0';
/** Largest request body accepted (configs and paths are small). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Bytes of events an events client may leave unread before the daemon closes its stream. */
export const MAX_EVENT_BACKLOG = 1024 * 1024;

/** What the TCP listener allows its (possibly hostile) clients; docs/security.md lists them. */
export interface TcpLimits {
  /** Open connections at once, all clients together. */
  readonly maxConnections: number;
  /** Open connections at once from one address. */
  readonly maxConnectionsPerClient: number;
  /** A connection that has not been authenticated is closed after this long without a byte. */
  readonly idleMs: number;
  /** The request line and headers must arrive within this. */
  readonly headersMs: number;
  /** The whole request (headers and body) must arrive within this. */
  readonly requestMs: number;
}

export const TCP_LIMITS: TcpLimits = {
  maxConnections: 128,
  maxConnectionsPerClient: 16,
  idleMs: 10_000,
  headersMs: 10_000,
  requestMs: 30_000,
};

export interface DaemonOptions {
  readonly control: ControlPlane;
  readonly logger: Logger;
  /** Unix socket path; created with mode 0600. */
  readonly socketPath: string;
  /** Optional TCP listener; every request on it must carry `Authorization: Bearer <token>`. */
  readonly tcp?: {
    readonly host: string;
    readonly port: number;
    readonly token: string;
    /** Default TCP_LIMITS. */
    readonly limits?: Partial<TcpLimits>;
    /** Serve HTTPS with this certificate chain and key (PEM), so the token and migration streams travel encrypted. */
    readonly tls?: { readonly cert: string; readonly key: string };
  };
  readonly spec?: ApiSpec;
  /** Optional web listener: dashboard, API, console WebSocket and /metrics (src/server/http.ts). */
  readonly http?: HttpListenerOptions;
  /** Incoming live migrations (src/server/migration.ts). */
  readonly migration?: MigrationEndpointOptions;
}

export interface Daemon {
  readonly socketPath: string;
  /** Address of the TCP listener when there is one (port resolved when 0 was asked). */
  readonly tcp?: { readonly host: string; readonly port: number };
  /** Address of the web listener when there is one. */
  readonly http?: { readonly host: string; readonly port: number };
  close(): Promise<void>;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Constant-time comparison of the bearer token. */
function tokenMatches(header: string | undefined, want: Buffer): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), want);
}

const tooLarge = (): ApiError =>
  new ApiError('too-large', `request body is larger than ${MAX_BODY_BYTES} bytes (configs and paths are small)`);

/**
 * The request body, at most MAX_BODY_BYTES: a larger one (announced or sent) is refused with
 * 413 and the rest is not read (the connection closes once the answer is out).
 */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
      req.pause();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.off('data', onData);
        req.pause();
        reject(tooLarge());
      } else chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Ends the connection once `res` is out, without reading what the client still sends. */
function closeAfter(res: ServerResponse): void {
  res.shouldKeepAlive = false;
  res.setHeader('connection', 'close');
  const socket = res.req.socket;
  res.once('finish', () => {
    socket.end();
    // A client that keeps sending is not waited for.
    setTimeout(() => socket.destroy(), 1000).unref();
  });
}

async function parseBody(req: IncomingMessage): Promise<unknown> {
  const raw = await readBody(req);
  if (raw.length === 0) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ApiError('bad-request', `request body must be application/json, got ${type || 'no content type'}`);
  }
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new ApiError('bad-request', `request body is not valid JSON: ${(e as Error).message}`);
  }
}

/** Logs a failed request: a bug in pvm at error with its stack (the user saw a generic message), a refusal at warn. */
function logFailure(log: Logger, err: ApiError, fields: Record<string, unknown>): void {
  if (err.status >= 500) log.error({ ...fields, err: err.cause ?? err }, 'internal error');
  else log.warn({ ...fields, status: err.status, code: err.code }, err.message);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

type Request = {
  readonly domain: string;
  readonly sw: string;
  readonly query: Record<string, string>;
  readonly b: Record<string, unknown>;
};

/** Operations the daemon answers itself, without a control-plane command. */
type Local = 'version' | 'openapi' | 'events' | 'health' | 'switch-link' | 'migrate-incoming';

/** The command of each operation of the OpenAPI document (a test checks both name the same operations). */
const COMMANDS: Readonly<Record<string, (r: Request) => Command | Local>> = {
  version: () => 'version',
  health: () => 'health',
  openapi: () => 'openapi',
  events: () => 'events',
  list: () => ({ kind: 'list' }),
  create: ({ b }) => ({ kind: 'create', config: b.config as never, paused: b.paused === true }),
  info: ({ domain }) => ({ kind: 'info', domain }),
  destroy: ({ domain }) => ({ kind: 'destroy', domain }),
  pause: ({ domain }) => ({ kind: 'pause', domain }),
  unpause: ({ domain }) => ({ kind: 'unpause', domain }),
  shutdown: ({ domain }) => ({ kind: 'shutdown', domain }),
  reboot: ({ domain }) => ({ kind: 'reboot', domain }),
  stats: ({ domain }) => ({ kind: 'stats', domain }),
  console: ({ domain, query }) => ({ kind: 'console-attach', domain, write: query.write === 'true' }),
  'migrate-incoming': () => 'migrate-incoming',
  migrate: ({ domain, b }) => ({
    kind: 'migrate',
    domain,
    to: String(b.to),
    token: String(b.token),
    ...(typeof b.ca === 'string' ? { ca: b.ca } : {}),
    ...(typeof b.maxRounds === 'number' ? { maxRounds: b.maxRounds } : {}),
  }),
  save: ({ domain, b }) => ({
    kind: 'save',
    domain,
    path: String(b.path),
    keep: b.keep === true,
    force: b.force === true,
  }),
  'restrict-hypercalls': ({ domain, b }) => ({
    kind: 'restrict-hypercalls',
    domain,
    allow: Array.isArray(b.allow) ? b.allow.map(String) : [],
  }),
  sched: ({ domain }) => ({ kind: 'sched', domain }),
  'set-sched': ({ domain, b }) => ({
    kind: 'sched',
    domain,
    ...(typeof b.weight === 'number' && { weight: b.weight }),
    ...(typeof b.cap === 'number' && { cap: b.cap }),
  }),
  restore: ({ b }) => ({
    kind: 'restore',
    path: String(b.path),
    paused: b.paused === true,
    ...(typeof b.name === 'string' ? { name: b.name } : {}),
    ...(typeof b.threads === 'boolean' ? { threads: b.threads } : {}),
  }),
  'switch-list': () => ({ kind: 'switch-list' }),
  'switch-join': ({ sw, b }) => ({
    kind: 'switch-join',
    switch: sw,
    url: String(b.url),
    token: String(b.token),
    wait: b.wait !== false,
  }),
  'switch-leave': ({ sw, b }) => ({ kind: 'switch-leave', switch: sw, url: String(b.url) }),
  // A WebSocket: the upgrade handler serves it (src/host/switch-links.ts).
  'switch-link': () => 'switch-link',
};

/** The operationIds the daemon serves. */
export const DAEMON_OPERATIONS: readonly string[] = Object.keys(COMMANDS);

/** Maps a validated request to its command. */
function toCommand(m: Match, query: Record<string, string>, body: unknown): Command | Local {
  const make = Object.hasOwn(COMMANDS, m.op.operationId) ? COMMANDS[m.op.operationId] : undefined;
  if (!make) throw new ApiError('internal', `operation ${m.op.operationId} has no command`);
  return make({ domain: m.params.domain!, sw: m.params.switch!, query, b: (body ?? {}) as Record<string, unknown> });
}

/** Removes a stale socket file; refuses when a daemon still answers on it. */
async function clearStaleSocket(path: string): Promise<void> {
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new ApiError('io', `${path} exists and is not a socket; refusing to replace it`);
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new ApiError('io', `another pvm daemon is listening on ${path}`);
  unlinkSync(path);
}

/**
 * The daemon: JSON over HTTP/1.1 on a Unix socket (and optionally TCP with a
 * bearer token). Each request is matched to an operation of the OpenAPI
 * document, validated, turned into one Command and executed by the
 * ControlPlane. Responses are JSON; errors are `{"error":{code,message}}`.
 */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { control, logger } = options;
  const spec = options.spec ?? ApiSpec.load();
  const consoles = new ConsoleEndpoint(control);
  const migrations = new MigrationEndpoint(control, migrationHost(control.domains), options.migration);
  /** Open event streams, ended when the daemon closes. */
  const streams = new Set<ServerResponse>();
  let nextRequest = 1;

  /** GET /v1/events: one JSON line per domain event until the client goes. */
  const streamEvents = (res: ServerResponse): void => {
    // Subscribed before the headers go out: a client that has them misses no later event. A client
    // that stops reading is let go once MAX_EVENT_BACKLOG bytes wait for it, instead of the daemon
    // keeping them all.
    const unsubscribe = control.domains.subscribe((ev) => {
      if (res.writableLength > MAX_EVENT_BACKLOG) res.destroy();
      else res.write(`${JSON.stringify(ev)}\n`);
    });
    streams.add(res);
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.flushHeaders();
    const done = (): void => {
      unsubscribe();
      streams.delete(res);
    };
    res.on('close', done);
    res.on('error', done);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, transport: Transport): Promise<void> => {
    const rid = nextRequest++;
    const log = logger.child({ req: rid, transport });
    const url = requestUrl(req.url);
    if (url === null) {
      req.resume();
      return sendJson(res, 400, new ApiError('bad-request', 'the request target is not a path').toJSON());
    }
    const method = req.method ?? 'GET';
    log.debug({ method, path: url.pathname }, 'request');
    let status = 200;
    try {
      const m = spec.match(method, url.pathname);
      const query = Object.fromEntries(url.searchParams);
      const body = await parseBody(req);
      spec.validate(m.op, m.params, query, body);
      if (
        m.op.operationId === 'console' ||
        m.op.operationId === 'switch-link' ||
        m.op.operationId === 'migrate-incoming'
      ) {
        throw new ApiError(
          'bad-request',
          `${m.op.operationId} is a WebSocket: it needs "Connection: Upgrade" and "Upgrade: websocket"`,
        );
      }
      const cmd = toCommand(m, query, body);
      if (cmd === 'version') return sendJson(res, 200, { pvm: PVM_VERSION, api: API_VERSION });
      if (cmd === 'health') return sendJson(res, 200, { status: 'ok' });
      if (cmd === 'openapi') {
        const text = openApiYaml(spec.document);
        res.writeHead(200, { 'content-type': 'application/yaml', 'content-length': Buffer.byteLength(text) });
        return void res.end(text);
      }
      if (cmd === 'events') return streamEvents(res);
      if (cmd === 'migrate-incoming') throw new ApiError('internal', 'migrate-incoming is an upgrade');
      if (cmd === 'switch-link') throw new ApiError('internal', 'switch-link is a WebSocket'); // refused above
      status = cmd.kind === 'create' || cmd.kind === 'restore' ? 201 : 200;
      const ndjson = (req.headers.accept ?? '').includes('application/x-ndjson');
      if (ndjson && (cmd.kind === 'save' || cmd.kind === 'restore' || cmd.kind === 'migrate')) {
        res.on('error', () => {}); // the client may leave mid-way; the command still completes
        res.writeHead(status, { 'content-type': 'application/x-ndjson' });
        let last = '';
        const onProgress = (p: Progress): void => {
          const pct = `${p.phase}:${p.total > 0 ? Math.floor((100 * p.done) / p.total) : 100}`;
          if (pct === last) return;
          last = pct;
          res.write(`${JSON.stringify({ progress: p })}\n`);
        };
        try {
          const result = await control.execute(cmd, { onProgress });
          res.end(`${JSON.stringify({ result })}\n`);
          log.info({ command: cmd.kind, result }, `${cmd.kind} done`);
        } catch (e) {
          const err = toApiError(e);
          res.end(`${JSON.stringify(err.toJSON())}\n`);
          logFailure(log, err, { command: cmd.kind });
        }
        return;
      }
      const result = await control.execute(cmd);
      sendJson(res, status, result);
      if (cmd.kind !== 'list' && cmd.kind !== 'info' && cmd.kind !== 'stats' && cmd.kind !== 'switch-list') {
        log.info({ command: cmd.kind, domain: (result as { name?: string }).name }, `${cmd.kind} done`);
      }
    } catch (e) {
      const err = toApiError(e);
      logFailure(log, err, { method, path: url.pathname });
      if (err.code === 'too-large' && !res.headersSent) closeAfter(res);
      if (!res.headersSent) sendJson(res, err.status, err.toJSON());
      else res.end();
    }
  };

  const rawError = (socket: Duplex, err: ApiError): void => {
    const body = JSON.stringify(err.toJSON());
    const reason = STATUS_CODES[err.status];
    socket.end(
      `HTTP/1.1 ${err.status} ${reason ?? 'Error'}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  };

  /** GET /v1/domains/{domain}/console as a WebSocket (src/server/web-console.ts). */
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, transport: Transport): void => {
    socket.on('error', () => socket.destroy()); // a client that vanishes must not take the daemon down
    const url = requestUrl(req.url) ?? new URL('http://localhost/not-a-path');
    const log = logger.child({ req: nextRequest++, transport });
    try {
      if (!ConsoleEndpoint.isWebSocket(req)) {
        throw new ApiError('bad-request', `unsupported upgrade ${JSON.stringify(req.headers.upgrade)}`);
      }
      const m = spec.match(req.method ?? 'GET', url.pathname);
      const query = Object.fromEntries(url.searchParams);
      spec.validate(m.op, m.params, query, undefined);
      if (m.op.operationId === 'migrate-incoming') {
        migrations.accept(req, socket, head, log);
        return;
      }
      if (m.op.operationId === 'switch-link') {
        // The daemon's own switches take links from peers (docs/networking.md).
        const links = control.network instanceof SwitchLinks ? control.network : undefined;
        if (links === undefined) throw new ApiError('not-found', 'this daemon has no virtual switches to link');
        links.checkAccept(m.params.switch!, req);
        links.accept(m.params.switch!, req, socket, head);
        return;
      }
      if (m.op.operationId !== 'console') throw new ApiError('bad-request', `${url.pathname} cannot be upgraded`);
      const cmd = toCommand(m, query, undefined) as Extract<Command, { kind: 'console-attach' }>;
      control.execute(cmd).then(
        (session) => {
          if (socket.destroyed) session.detach();
          else consoles.accept(req, socket, head, session, log);
        },
        (e) => {
          const err = toApiError(e);
          logFailure(log, err, { path: url.pathname });
          rawError(socket, err);
        },
      );
    } catch (e) {
      const err = toApiError(e);
      logFailure(log, err, { path: url.pathname });
      rawError(socket, err);
    }
  };

  const listen = (server: Server, transport: Transport, token?: Buffer): void => {
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (answerHealth(req, res)) return; // without the token: an orchestrator's probe carries none
      if (token && !tokenMatches(req.headers.authorization, token)) {
        logger.warn({ transport, remote: req.socket.remoteAddress, path: req.url }, 'request without a valid token');
        res.setHeader('www-authenticate', 'Bearer');
        // Nothing more is read from a client without the token: its body is left unread and the
        // connection closes once the 401 is out.
        req.pause();
        closeAfter(res);
        sendJson(res, 401, new ApiError('unauthorized', 'missing or wrong bearer token').toJSON());
        return;
      }
      if (token) req.socket.setTimeout(0); // authenticated: idle connections are the keep-alive timeout's
      void handle(req, res, transport);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      if (token && !tokenMatches(req.headers.authorization, token)) {
        logger.warn({ transport, remote: req.socket.remoteAddress, path: req.url }, 'upgrade without a valid token');
        rawError(socket, new ApiError('unauthorized', 'missing or wrong bearer token'));
        return;
      }
      if (token) socket.setTimeout(0); // an attached console may be quiet for hours
      upgrade(req, socket, head, transport);
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (!socket.writable) return;
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        socket.end('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      } else rawError(socket, new ApiError('bad-request', 'malformed HTTP request'));
    });
  };

  await clearStaleSocket(options.socketPath);
  const unix = createServer();
  listen(unix, 'unix');
  // The socket file appears with the mode the umask allows: make that 0600 from the start.
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      unix.once('error', reject);
      unix.listen(options.socketPath, () => resolve());
    });
  } catch (e) {
    throw new ApiError('io', `cannot listen on ${options.socketPath}: ${(e as Error).message}`);
  } finally {
    process.umask(oldMask);
  }
  chmodSync(options.socketPath, 0o600);

  let tcp: Server | undefined;
  let tcpAddress: { host: string; port: number } | undefined;
  if (options.tcp) {
    if (options.tcp.token.length < 16) {
      unix.close();
      throw new ApiError('bad-request', 'the TCP listener needs a token of at least 16 characters');
    }
    const limits: TcpLimits = { ...TCP_LIMITS, ...options.tcp.limits };
    const serverOptions = {
      headersTimeout: limits.headersMs,
      requestTimeout: limits.requestMs,
      // How often Node checks those two timeouts (its default, 30 s, would let a slow client stay
      // that much longer).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, limits.headersMs / 2)),
    };
    const tls = options.tcp.tls;
    let server: Server;
    try {
      server = tls
        ? createHttpsServer({ ...serverOptions, cert: tls.cert, key: tls.key })
        : createServer(serverOptions);
    } catch (e) {
      unix.close();
      throw new ApiError('bad-request', `the TCP listener's TLS certificate or key: ${(e as Error).message}`);
    }
    tcp = server;
    server.maxConnections = limits.maxConnections;
    const perClient = new Map<string, number>();
    server.on('connection', (socket: Socket) => {
      const who = socket.remoteAddress ?? '?';
      const n = (perClient.get(who) ?? 0) + 1;
      if (n > limits.maxConnectionsPerClient) {
        logger.warn({ remote: who, limit: limits.maxConnectionsPerClient }, 'too many connections from one client');
        socket.destroy();
        return;
      }
      perClient.set(who, n);
      socket.once('close', () => {
        const left = (perClient.get(who) ?? 1) - 1;
        if (left <= 0) perClient.delete(who);
        else perClient.set(who, left);
      });
      // Until a request carries the token, a quiet connection is closed.
      socket.setTimeout(limits.idleMs, () => socket.destroy());
    });
    listen(server, 'tcp', digest(options.tcp.token));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.tcp!.port, options.tcp!.host, () => resolve());
      });
    } catch (e) {
      unix.close();
      throw new ApiError('io', `cannot listen on ${options.tcp.host}:${options.tcp.port}: ${(e as Error).message}`);
    }
    const addr = server.address();
    tcpAddress = { host: options.tcp.host, port: typeof addr === 'object' && addr ? addr.port : options.tcp.port };
    if (!tls && !['127.0.0.1', '::1', 'localhost'].includes(options.tcp.host)) {
      logger.warn(
        { host: options.tcp.host },
        'TCP listener is not on loopback and has no TLS: the token travels in clear',
      );
    }
  }
  let http: HttpListener | undefined;
  if (options.http) {
    try {
      http = await startHttpListener(
        options.http,
        {
          api: (req, res) => void handle(req, res, 'http'),
          upgrade: (req, socket, head) => upgrade(req, socket, head, 'http'),
          metrics: new DaemonMetrics(control),
        },
        logger,
      );
    } catch (e) {
      unix.close();
      tcp?.close();
      throw e;
    }
  }
  const httpAddress = http ? { host: http.host, port: http.port } : undefined;
  logger.info({ socket: options.socketPath, tcp: tcpAddress, http: httpAddress }, 'pvm daemon listening');
  const unwatch = control.domains.subscribe((ev) => {
    if (ev.type === 'state') {
      logger.info({ domain: ev.name, id: ev.id, state: ev.state, reason: ev.reason }, `domain ${ev.state}`);
    } else logger.info({ domain: ev.name, id: ev.id }, 'domain removed');
  });

  return {
    socketPath: options.socketPath,
    ...(tcpAddress ? { tcp: tcpAddress } : {}),
    ...(httpAddress ? { http: httpAddress } : {}),
    async close() {
      unwatch();
      consoles.close(); // before the listeners: their close waits for every connection to end
      migrations.close();
      if (control.network instanceof SwitchLinks) await control.network.close(); // the same, for links
      await http?.close();
      for (const r of streams) r.end();
      streams.clear();
      const closing = [unix, tcp].filter((s): s is Server => s !== undefined);
      for (const s of closing) s.closeAllConnections();
      await Promise.all(closing.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      logger.info('pvm daemon stopped');
    },
  };
}
