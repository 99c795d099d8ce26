import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import {
  CONSOLE_SUBPROTOCOL,
  type MigrateResult,
  type Progress,
  type SaveResult,
  type SchedInfo,
} from '../api/commands.js';
import type { DomainEvent, DomainInfo, DomainState, DomainStats } from '../api/domain.js';
import { ApiError, type ApiErrorCode } from '../api/errors.js';
import type { DomainSpecInput } from '../api/spec.js';
import type { SwitchInfo } from '../api/switches.js';
import { PvmError } from '../core/errors.js';

/** Where the daemon listens unless told otherwise: $PVM_SOCKET, else $XDG_RUNTIME_DIR/pvm/pvmd.sock, else ~/.pvm/pvmd.sock. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PVM_SOCKET) return env.PVM_SOCKET;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'pvm', 'pvmd.sock');
  return join(homedir(), '.pvm', 'pvmd.sock');
}

export interface ClientOptions {
  /** Unix socket of the daemon (default: defaultSocketPath()). */
  readonly socketPath?: string;
  /** Or a TCP daemon, e.g. http://127.0.0.1:7070, with its token. */
  readonly url?: string;
  readonly token?: string;
}

const API = '/v1';

/**
 * The daemon's API as typed calls. Refusals are thrown as ApiError with the
 * daemon's code and message. One connection per request (no keep-alive): a
 * reused socket that the daemon is closing would fail with ECONNRESET.
 */
export class PvmClient {
  private readonly base: RequestOptions;
  readonly where: string;

  constructor(options: ClientOptions = {}) {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.url) {
      const u = new URL(options.url);
      this.base = { host: u.hostname, port: Number(u.port || 80), headers, agent: false };
      this.where = options.url;
    } else {
      const socketPath = options.socketPath ?? defaultSocketPath();
      this.base = { socketPath, headers, agent: false };
      this.where = socketPath;
    }
  }

  private unreachable(e: unknown): PvmError {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' || code === 'ECONNREFUSED' ? 'no daemon is listening' : (e as Error).message;
    return new PvmError('io', `cannot reach the pvm daemon at ${this.where}: ${why} (start one with: pvm daemon)`);
  }

  private send(method: string, path: string, body: unknown, accept: string): Promise<IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpRequest({
        ...this.base,
        method,
        path: API + path,
        headers: {
          ...this.base.headers,
          accept,
          ...(payload !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
      });
      req.on('response', resolve);
      req.on('error', (e) => reject(this.unreachable(e)));
      req.end(payload);
    });
  }

  private async text(res: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    try {
      for await (const c of res) chunks.push(c as Buffer);
    } catch (e) {
      throw this.unreachable(e); // the daemon went away mid-answer
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** A JSON answer; something else (another server on that address) is an io error, not a bug in pvm. */
  private json<T>(text: string): T {
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new PvmError('io', `${this.where} answered with something that is not JSON: is it a pvm daemon?`);
    }
  }

  private static refusal(status: number, text: string): ApiError {
    try {
      const { error } = JSON.parse(text) as { error: { code: ApiErrorCode; message: string } };
      if (error && typeof error.message === 'string') return new ApiError(error.code, error.message);
    } catch {}
    return new ApiError('internal', `the daemon answered ${status} without an error message`);
  }

  /** One JSON request; resolves with the decoded body of a 2xx answer. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body, 'application/json');
    const text = await this.text(res);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw PvmClient.refusal(status, text);
    return this.json<T>(text);
  }

  /** A request answered with JSON lines of progress, then a result or an error. */
  private async streamed<T>(path: string, body: unknown, onProgress?: (p: Progress) => void): Promise<T> {
    const res = await this.send('POST', path, body, 'application/x-ndjson');
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw PvmClient.refusal(status, await this.text(res));
    let pending = '';
    let outcome: { result?: T; error?: { code: ApiErrorCode; message: string } } | undefined;
    const chunks = res[Symbol.asyncIterator]();
    for (;;) {
      const next = await chunks.next().catch((e: unknown) => {
        throw this.unreachable(e); // the daemon went away mid-answer
      });
      if (next.done) break;
      pending += (next.value as Buffer).toString('utf8');
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = this.json<{ progress?: Progress; result?: T; error?: never }>(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        if (line.progress) onProgress?.(line.progress);
        else outcome = line;
      }
    }
    if (outcome?.error) throw new ApiError(outcome.error.code, outcome.error.message);
    if (!outcome || outcome.result === undefined) throw new ApiError('internal', 'the daemon ended the answer early');
    return outcome.result;
  }

  private static seg(domain: string): string {
    return `/domains/${encodeURIComponent(domain)}`;
  }

  version(): Promise<{ pvm: string; api: string }> {
    return this.request('GET', '/version');
  }
  list(): Promise<DomainInfo[]> {
    return this.request('GET', '/domains');
  }
  create(config: DomainSpecInput, options: { paused?: boolean } = {}): Promise<DomainInfo> {
    return this.request('POST', '/domains', { config, ...(options.paused ? { paused: true } : {}) });
  }
  info(domain: string): Promise<DomainInfo> {
    return this.request('GET', PvmClient.seg(domain));
  }
  pause(domain: string): Promise<DomainInfo> {
    return this.request('POST', `${PvmClient.seg(domain)}/pause`);
  }
  unpause(domain: string): Promise<DomainInfo> {
    return this.request('POST', `${PvmClient.seg(domain)}/unpause`);
  }
  shutdown(domain: string): Promise<DomainInfo> {
    return this.request('POST', `${PvmClient.seg(domain)}/shutdown`);
  }
  reboot(domain: string): Promise<DomainInfo> {
    return this.request('POST', `${PvmClient.seg(domain)}/reboot`);
  }
  destroy(domain: string): Promise<{ id: number; name: string; state: 'destroyed' }> {
    return this.request('DELETE', PvmClient.seg(domain));
  }
  stats(domain: string): Promise<DomainStats> {
    return this.request('GET', `${PvmClient.seg(domain)}/stats`);
  }
  /** The domain's scheduler weight and cap; sets those given first. */
  sched(domain: string, params: { weight?: number; cap?: number } = {}): Promise<SchedInfo> {
    return Object.keys(params).length === 0
      ? this.request('GET', `${PvmClient.seg(domain)}/sched`)
      : this.request('PUT', `${PvmClient.seg(domain)}/sched`, params);
  }

  /** Tightens the domain's hypercall policy to what it and `allow` both permit (never widens it). */
  restrictHypercalls(domain: string, allow: readonly string[]): Promise<DomainInfo> {
    return this.request('POST', `${PvmClient.seg(domain)}/hypercalls`, { allow });
  }
  /** The daemon's virtual switches and their links to other daemons. */
  health(): Promise<{ status: 'ok' }> {
    return this.request('GET', '/health');
  }
  switches(): Promise<SwitchInfo[]> {
    return this.request('GET', '/switches');
  }
  /** Joins the daemon's switch `name` to the switch of that name on the daemon at `url` (whose token is `token`). */
  joinSwitch(name: string, url: string, token: string, options: { wait?: boolean } = {}): Promise<SwitchInfo> {
    return this.request('POST', `/switches/${encodeURIComponent(name)}/join`, {
      url,
      token,
      ...(options.wait === false && { wait: false }),
    });
  }
  leaveSwitch(name: string, url: string): Promise<SwitchInfo> {
    return this.request('POST', `/switches/${encodeURIComponent(name)}/leave`, { url });
  }
  save(
    domain: string,
    path: string,
    options: { keep?: boolean; force?: boolean; onProgress?: (p: Progress) => void } = {},
  ): Promise<SaveResult> {
    const body = { path, ...(options.keep ? { keep: true } : {}), ...(options.force ? { force: true } : {}) };
    return this.streamed(`${PvmClient.seg(domain)}/save`, body, options.onProgress);
  }
  /** Live migration to the daemon at `to` (docs/migration.md); the source daemon does the work. */
  migrate(
    domain: string,
    to: string,
    options: { token: string; ca?: string; maxRounds?: number; onProgress?: (p: Progress) => void },
  ): Promise<MigrateResult> {
    const { onProgress, ...body } = options;
    return this.streamed(`${PvmClient.seg(domain)}/migrate`, { to, ...body }, onProgress);
  }
  restore(
    path: string,
    options: { name?: string; paused?: boolean; threads?: boolean; onProgress?: (p: Progress) => void } = {},
  ): Promise<DomainInfo> {
    const body = {
      path,
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.paused ? { paused: true } : {}),
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
    };
    return this.streamed('/restore', body, options.onProgress);
  }

  /**
   * Domain events (GET /v1/events): resolves once the daemon has subscribed, so no later event
   * is missed: `for await (const ev of await client.events())`. The stream closes when the
   * loop ends, `signal` aborts, or the daemon stops.
   */
  async events(options: { signal?: AbortSignal } = {}): Promise<AsyncGenerator<DomainEvent>> {
    const signal = options.signal;
    const res = await this.send('GET', '/events', undefined, 'application/x-ndjson');
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw PvmClient.refusal(status, await this.text(res));
    return this.lines(res, signal);
  }

  private async *lines(res: IncomingMessage, signal?: AbortSignal): AsyncGenerator<DomainEvent> {
    const options = { signal };
    const abort = () => res.destroy();
    options.signal?.addEventListener('abort', abort);
    let pending = '';
    try {
      for await (const chunk of res) {
        pending += (chunk as Buffer).toString('utf8');
        for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          yield this.json<DomainEvent>(line);
        }
      }
    } catch (e) {
      if (!options.signal?.aborted) throw this.unreachable(e);
    } finally {
      options.signal?.removeEventListener('abort', abort);
      res.destroy();
    }
  }

  /**
   * Resolves with the domain's info once it is in one of `states` (at once if it already is),
   * as ControlPlane.waitFor does in-process; not-found if it is destroyed first.
   */
  async waitFor(
    domain: string,
    states: DomainState | readonly DomainState[],
    options: { signal?: AbortSignal } = {},
  ): Promise<DomainInfo> {
    const want: readonly DomainState[] = typeof states === 'string' ? [states] : states;
    const stop = new AbortController();
    const abort = () => stop.abort();
    options.signal?.addEventListener('abort', abort);
    // Subscribed before the state is read, so no change slips in between.
    const events = await this.events({ signal: stop.signal });
    try {
      const now = await this.info(domain);
      if (want.includes(now.state)) return now;
      for await (const e of events) {
        if (e.id !== now.id) continue;
        if (e.type === 'removed') {
          throw new ApiError('not-found', `domain ${now.name} was destroyed before it was ${want.join(' or ')}`);
        }
        if (want.includes(e.state)) return await this.info(String(now.id));
      }
      throw options.signal?.aborted
        ? (options.signal.reason ?? new ApiError('bad-state', 'aborted'))
        : this.unreachable(new Error('the daemon closed the event stream'));
    } finally {
      stop.abort();
      options.signal?.removeEventListener('abort', abort);
      await events.return(undefined);
    }
  }

  /**
   * Attaches to a domain's console (the WebSocket of src/server/web-console.ts): resolves with a
   * duplex stream of raw console bytes (recent output first). Ending the stream detaches.
   */
  async attachConsole(domain: string, options: { write?: boolean } = {}): Promise<Duplex> {
    // ws loads only for a console: the other calls (and `pvm run`, which imports the CLI) do without it
    const { createWebSocketStream, WebSocket } = await import('ws');
    const path = `${API}${PvmClient.seg(domain)}/console?write=${options.write ? 'true' : 'false'}`;
    const url =
      this.base.socketPath !== undefined
        ? `ws+unix:${this.base.socketPath}:${path}`
        : `ws://${this.base.host}:${this.base.port}${path}`;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, CONSOLE_SUBPROTOCOL, {
        headers: { ...(this.base.headers as Record<string, string>) },
        perMessageDeflate: false,
      });
      ws.once('open', () => {
        ws.removeAllListeners('error');
        const stream = createWebSocketStream(ws);
        stream.on('error', () => stream.destroy());
        // The daemon closed the console (domain destroyed, daemon stopping): once the output is
        // read, the stream closes as a socket would.
        stream.on('end', () => stream.destroy());
        resolve(stream);
      });
      ws.once('unexpected-response', (_req, res) => {
        void this.text(res)
          .catch(() => '')
          .then((text) => reject(PvmClient.refusal(res.statusCode ?? 0, text)));
      });
      ws.once('error', (e) => reject(this.unreachable(e)));
    });
  }
}
