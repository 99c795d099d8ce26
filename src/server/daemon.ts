import { createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Command, Progress } from '../api/commands.js';
import type { ControlPlane } from '../api/control.js';
import { ApiError, toApiError } from '../api/errors.js';
import type { Logger } from '../host/logger.js';
import { ApiSpec, type Match, openApiYaml } from './openapi.js';

export const API_VERSION = '1';
export const PVM_VERSION = '0.1.0';
/** Largest request body accepted (configs and paths are small). */
export const MAX_BODY_BYTES = 1024 * 1024;
export const CONSOLE_PROTOCOL = 'pvm-console';
/** Bytes of events an events client may leave unread before the daemon closes its stream. */
export const MAX_EVENT_BACKLOG = 1024 * 1024;

export interface DaemonOptions {
  readonly control: ControlPlane;
  readonly logger: Logger;
  /** Unix socket path; created with mode 0600. */
  readonly socketPath: string;
  /** Optional TCP listener; every request on it must carry `Authorization: Bearer <token>`. */
  readonly tcp?: { readonly host: string; readonly port: number; readonly token: string };
  readonly spec?: ApiSpec;
}

export interface Daemon {
  readonly socketPath: string;
  /** Address of the TCP listener when there is one (port resolved when 0 was asked). */
  readonly tcp?: { readonly host: string; readonly port: number };
  close(): Promise<void>;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Constant-time comparison of the bearer token. */
function tokenMatches(header: string | undefined, want: Buffer): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), want);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ApiError('bad-request', `request body is larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
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

type Request = { readonly domain: string; readonly query: Record<string, string>; readonly b: Record<string, unknown> };

/** Operations the daemon answers itself, without a control-plane command. */
type Local = 'version' | 'openapi' | 'events';

/** The command of each operation of the OpenAPI document (a test checks both name the same operations). */
const COMMANDS: Readonly<Record<string, (r: Request) => Command | Local>> = {
  version: () => 'version',
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
  save: ({ domain, b }) => ({ kind: 'save', domain, path: String(b.path), keep: b.keep === true }),
  'restrict-hypercalls': ({ domain, b }) => ({
    kind: 'restrict-hypercalls',
    domain,
    allow: Array.isArray(b.allow) ? b.allow.map(String) : [],
  }),
  restore: ({ b }) => ({
    kind: 'restore',
    path: String(b.path),
    paused: b.paused === true,
    ...(typeof b.name === 'string' ? { name: b.name } : {}),
  }),
};

/** The operationIds the daemon serves. */
export const DAEMON_OPERATIONS: readonly string[] = Object.keys(COMMANDS);

/** Maps a validated request to its command. */
function toCommand(m: Match, query: Record<string, string>, body: unknown): Command | Local {
  const make = Object.hasOwn(COMMANDS, m.op.operationId) ? COMMANDS[m.op.operationId] : undefined;
  if (!make) throw new ApiError('internal', `operation ${m.op.operationId} has no command`);
  return make({ domain: m.params.domain!, query, b: (body ?? {}) as Record<string, unknown> });
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
  const consoles = new Set<Duplex>();
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

  const handle = async (req: IncomingMessage, res: ServerResponse, transport: 'unix' | 'tcp'): Promise<void> => {
    const rid = nextRequest++;
    const log = logger.child({ req: rid, transport });
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    log.debug({ method, path: url.pathname }, 'request');
    let status = 200;
    try {
      const m = spec.match(method, url.pathname);
      const query = Object.fromEntries(url.searchParams);
      const body = await parseBody(req);
      spec.validate(m.op, m.params, query, body);
      if (m.op.operationId === 'console') {
        throw new ApiError('bad-request', `console needs "Connection: Upgrade" and "Upgrade: ${CONSOLE_PROTOCOL}"`);
      }
      const cmd = toCommand(m, query, body);
      if (cmd === 'version') return sendJson(res, 200, { pvm: PVM_VERSION, api: API_VERSION });
      if (cmd === 'openapi') {
        const text = openApiYaml(spec.document);
        res.writeHead(200, { 'content-type': 'application/yaml', 'content-length': Buffer.byteLength(text) });
        return void res.end(text);
      }
      if (cmd === 'events') return streamEvents(res);
      status = cmd.kind === 'create' || cmd.kind === 'restore' ? 201 : 200;
      const ndjson = (req.headers.accept ?? '').includes('application/x-ndjson');
      if (ndjson && (cmd.kind === 'save' || cmd.kind === 'restore')) {
        res.on('error', () => {}); // the client may leave mid-way; the command still completes
        res.writeHead(status, { 'content-type': 'application/x-ndjson' });
        let last = -1;
        const onProgress = (p: Progress): void => {
          const pct = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 100;
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
      if (cmd.kind !== 'list' && cmd.kind !== 'info' && cmd.kind !== 'stats') {
        log.info({ command: cmd.kind, domain: (result as { name?: string }).name }, `${cmd.kind} done`);
      }
    } catch (e) {
      const err = toApiError(e);
      logFailure(log, err, { method, path: url.pathname });
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

  const upgrade = (req: IncomingMessage, socket: Duplex, transport: 'unix' | 'tcp'): void => {
    socket.on('error', () => socket.destroy()); // a client that vanishes must not take the daemon down
    const url = new URL(req.url ?? '/', 'http://localhost');
    const log = logger.child({ req: nextRequest++, transport });
    try {
      if ((req.headers.upgrade ?? '').toLowerCase() !== CONSOLE_PROTOCOL) {
        throw new ApiError('bad-request', `unsupported upgrade ${JSON.stringify(req.headers.upgrade)}`);
      }
      const m = spec.match(req.method ?? 'GET', url.pathname);
      const query = Object.fromEntries(url.searchParams);
      spec.validate(m.op, m.params, query, undefined);
      if (m.op.operationId !== 'console') throw new ApiError('bad-request', `${url.pathname} cannot be upgraded`);
      const cmd = toCommand(m, query, undefined) as Extract<Command, { kind: 'console-attach' }>;
      control.execute(cmd).then(
        (session) => {
          socket.write(
            `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${CONSOLE_PROTOCOL}\r\nconnection: Upgrade\r\n\r\n`,
          );
          consoles.add(socket);
          log.info({ domain: session.domain.name, write: session.writable }, 'console attached');
          if (session.history.length > 0) socket.write(session.history);
          session.onOutput((data) => socket.write(data));
          const stopWatching = control.domains.subscribe((ev) => {
            if (ev.type === 'removed' && ev.id === session.domain.id) socket.end();
          });
          socket.on('data', (data: Buffer) => {
            if (session.writable) session.write(new Uint8Array(data));
          });
          const done = (): void => {
            if (!consoles.delete(socket)) return;
            stopWatching();
            session.detach();
            log.info({ domain: session.domain.name }, 'console detached');
          };
          socket.on('close', done);
          socket.on('end', () => socket.end());
          socket.on('error', done);
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

  const listen = (server: Server, transport: 'unix' | 'tcp', token?: Buffer): void => {
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (token && !tokenMatches(req.headers.authorization, token)) {
        logger.warn({ transport, remote: req.socket.remoteAddress, path: req.url }, 'request without a valid token');
        res.setHeader('www-authenticate', 'Bearer');
        sendJson(res, 401, new ApiError('unauthorized', 'missing or wrong bearer token').toJSON());
        req.resume();
        return;
      }
      void handle(req, res, transport);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      if (token && !tokenMatches(req.headers.authorization, token)) {
        logger.warn({ transport, remote: req.socket.remoteAddress, path: req.url }, 'upgrade without a valid token');
        rawError(socket, new ApiError('unauthorized', 'missing or wrong bearer token'));
        return;
      }
      upgrade(req, socket, transport);
    });
    server.on('clientError', (_err, socket: Duplex) => {
      if (socket.writable) rawError(socket, new ApiError('bad-request', 'malformed HTTP request'));
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
    const server = createServer();
    tcp = server;
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
    if (!['127.0.0.1', '::1', 'localhost'].includes(options.tcp.host)) {
      logger.warn(
        { host: options.tcp.host },
        'TCP listener is not on loopback and has no TLS: the token travels in clear',
      );
    }
  }
  logger.info({ socket: options.socketPath, tcp: tcpAddress }, 'pvm daemon listening');
  const unwatch = control.domains.subscribe((ev) => {
    if (ev.type === 'state') {
      logger.info({ domain: ev.name, id: ev.id, state: ev.state, reason: ev.reason }, `domain ${ev.state}`);
    } else logger.info({ domain: ev.name, id: ev.id }, 'domain removed');
  });

  return {
    socketPath: options.socketPath,
    ...(tcpAddress ? { tcp: tcpAddress } : {}),
    async close() {
      unwatch();
      for (const s of consoles) s.destroy();
      consoles.clear();
      for (const r of streams) r.end();
      streams.clear();
      const closing = [unix, tcp].filter((s): s is Server => s !== undefined);
      for (const s of closing) s.closeAllConnections();
      await Promise.all(closing.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      logger.info('pvm daemon stopped');
    },
  };
}
