/**
 * Live migration between pvm daemons (docs/migration.md): the source side (`migrateDomain`, the
 * `migrate` command) and the destination side (`MigrationEndpoint`, a WebSocket on the
 * destination's authenticated listener at GET /v1/migrate). The messages are those of
 * src/hypervisor/migration/stream.ts.
 *
 * Source: HELLO, then iterative pre-copy with the RAM's dirty-page log (src/core/dirty-log.ts):
 * every page in round 1, then the pages written meanwhile, until few are left or the rounds run
 * out (a domain with harts on threads, whose stores the log misses: round 1 only, and every
 * page again in the stop-and-copy round); then SYNC, until the destination has applied all of it, and a garbage collection on each
 * side (`collectGarbage`); then stop-and-copy: pause (the last guest instruction on the source),
 * drain the disks' requests, the last dirty pages, flush and release the image locks, the
 * snapshot of everything else (STATE). The destination loads it paused and says LOADED; the
 * source answers GO and from then on never runs its copy again; the destination resumes it and
 * says RESUMED, and the source destroys its copy. Before GO any failure leaves the domain
 * running on the source; after GO, see `resolveInDoubt`.
 */
import { stat } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WebSocket, WebSocketServer } from 'ws';
import type { MigrateResult, MigrateRound } from '../api/commands.js';
import type { ControlPlane } from '../api/control.js';
import { ApiError, toApiError } from '../api/errors.js';
import { type DomainSpec, parseDomainSpec } from '../api/spec.js';
import type { Logger } from '../host/logger.js';
import { zlibCompressor } from '../host/snapshot-file.js';
import {
  decodeMessage,
  encodeEmpty,
  encodeError,
  encodeHello,
  encodePagesInto,
  encodeState,
  type Hello,
  MAX_MESSAGE_BYTES,
  MAX_PAGES_MESSAGE_BYTES,
  MAX_PAGES_PER_MESSAGE,
  MIGRATION_PAGE_SIZE,
  MIGRATION_PROTOCOL,
  MIGRATION_SUBPROTOCOL,
  type MigrationMessage,
  MigrationStreamError,
  MSG,
  messageName,
} from '../hypervisor/migration/stream.js';
import {
  crc32Hasher,
  type DomainSnapshot,
  decodeSnapshotBytes,
  encodeSnapshotBytes,
  SNAPSHOT_VERSION,
} from '../hypervisor/snapshot/index.js';
import type { HypervisorDomainManager, IncomingDomain, OutgoingDomain } from './hypervisor-domains.js';

/**
 * What the destination needs of the daemon's domains: a HypervisorDomainManager, or a pool
 * (PoolDomainManager), which builds the arriving domain on a worker thread as it places new ones.
 */
export interface MigrationHost {
  incoming(spec: DomainSpec, pvxDomid: number | undefined): Promise<IncomingDomain>;
  unpause(id: number): Promise<void>;
  destroy(id: number): Promise<void>;
  announceMacs(id: number): Promise<number>;
}

/** The daemon's domains as a migration destination, or null when they cannot receive one. */
export function migrationHost(domains: object): MigrationHost | null {
  const h = domains as Partial<MigrationHost>;
  return typeof h.incoming === 'function' && typeof h.announceMacs === 'function' ? (domains as MigrationHost) : null;
}

/** The pvm version a HELLO names (the daemon's). */
const PVM_VERSION = '0.1.0';
/** The route on the destination's listeners. */
export const MIGRATION_PATH = '/v1/migrate';

/** STATE snapshots: CRC-32 (the WebSocket and TCP already protect the bytes; this catches bugs), deflate. */
const STREAM_CODECS = { compressor: zlibCompressor, hasher: crc32Hasher };

export interface MigrationTarget {
  /** The destination daemon: http://HOST:PORT (its --tcp or --http listener), https://, ws:// or wss://. */
  readonly url: string;
  /** The destination's token. */
  readonly token: string;
  /** PEM certificate(s) to trust for an https:// or wss:// destination (default: the system's). */
  readonly ca?: string;
}

export interface MigrationTuning {
  /** Pre-copy rounds at most before stop-and-copy (default 30, as Xen). */
  readonly maxRounds?: number;
  /** Stop and copy once a round leaves at most this many dirty pages (default 256: 1 MiB). */
  readonly stopPages?: number;
  /** How long to wait for each answer of the destination, in ms (default 60 s). */
  readonly timeoutMs?: number;
}

export interface MigrationProgress {
  readonly phase: string;
  readonly done: number;
  readonly total: number;
}

/**
 * Where the destination, once the domain runs, announces its NICs so that switches and peers
 * learn their new port at once: QEMU's announce-self after a migration, 5 RARP broadcasts per
 * NIC 100 ms apart (HypervisorDomainManager.announceMacs). Called once, right after the unpause;
 * it runs on in the background and a domain gone meanwhile just ends it.
 */
export type AnnounceNics = (manager: MigrationHost, domainId: number) => void;
export const announceDomainNics: AnnounceNics = (manager, id) => {
  manager.announceMacs(id).catch(() => {});
};

const migrationError = (message: string, cause?: unknown) =>
  new ApiError('migration', message, cause === undefined ? undefined : { cause });

/** The WebSocket URL of `target`'s migration endpoint. */
export function migrationUrl(target: string): URL {
  let u: URL;
  try {
    u = new URL(target);
  } catch {
    throw new ApiError('bad-request', `--to ${JSON.stringify(target)} is not a URL (http://HOST:PORT)`);
  }
  const scheme = { 'http:': 'ws:', 'ws:': 'ws:', 'https:': 'wss:', 'wss:': 'wss:' }[u.protocol];
  if (scheme === undefined) {
    throw new ApiError('bad-request', `--to ${target}: use http://, https://, ws:// or wss://`);
  }
  const out = new URL(MIGRATION_PATH, `${scheme}//${u.host}`);
  return out;
}

/**
 * PAGES buffers the source fills and sends in turn (4 MiB in flight at most). Reused rather than
 * allocated per message: a megabyte of garbage per message made V8 run full collections, some
 * of them in the stop-and-copy window.
 */
const PAGE_BUFFERS = 4;

let gc: (() => void) | undefined;
let lastCollection = Number.NEGATIVE_INFINITY;
/**
 * A full garbage collection, now: each side runs one after the pre-copy and before the stopped
 * window (the guest still runs on the source), so that V8 is unlikely to need one inside it.
 * Left to itself, V8 finished an incremental collection (10-30 ms on a loaded 2-core host) in
 * nearly every stopped window, the incoming stream's buffers having started one: most of the
 * downtime. Node's only way to ask for a collection is --expose-gc's `gc`, which a context
 * created once the flag is set carries; the daemon's own context is unchanged.
 */
function collectGarbage(): void {
  // At most one a second in the daemon: a source sending SYNC after SYNC (or many streams)
  // must not keep every domain here waiting for collections. One that just ran serves as well.
  const now = performance.now();
  if (now - lastCollection < 1000) return;
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  lastCollection = performance.now();
}

/** One side of the stream: messages in order, sends with back-pressure, the reason it ended. */
class Channel {
  private readonly queue: MigrationMessage[] = [];
  private waiter: (() => void) | null = null;
  private ended: ApiError | null = null;
  /** PAGES buffers the socket has written (free to fill again), and how many are out. */
  private readonly spare: Uint8Array[] = [];
  private buffersOut = 0;
  private bufferWaiter: (() => void) | null = null;
  ramPages = 0;

  constructor(
    readonly ws: WebSocket,
    private readonly peer: string,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.ended) return;
      try {
        if (!isBinary) throw new MigrationStreamError('a text message (the stream is binary)');
        this.queue.push(decodeMessage(new Uint8Array(data.buffer, data.byteOffset, data.length), this.ramPages));
      } catch (e) {
        const why = e instanceof MigrationStreamError ? e.message : String(e);
        this.fail(migrationError(`malformed message from the ${peer}: ${why}`));
        this.sendError('bad-request', `malformed message: ${why}`);
        ws.close(1008, 'malformed message');
      }
      this.wake();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.fail(
        migrationError(
          `the connection to the ${peer} was closed (${code}${reason.length > 0 ? ` ${reason.toString('utf8')}` : ''})`,
        ),
      );
    });
    ws.on('error', (e: Error) => this.fail(migrationError(`the connection to the ${peer} failed: ${e.message}`, e)));
  }

  get open(): boolean {
    return this.ended === null && this.ws.readyState === WebSocket.OPEN;
  }

  fail(e: ApiError): void {
    this.ended ??= e;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
    const b = this.bufferWaiter;
    this.bufferWaiter = null;
    b?.();
  }

  /** A buffer for one PAGES message (MAX_PAGES_MESSAGE_BYTES), once one is free; give it to sendPages. */
  async pageBuffer(): Promise<Uint8Array> {
    while (this.spare.length === 0 && this.buffersOut >= PAGE_BUFFERS) {
      if (this.ended) throw this.ended;
      await new Promise<void>((resolve) => {
        this.bufferWaiter = resolve;
      });
    }
    if (this.ended) throw this.ended;
    this.buffersOut++;
    return this.spare.pop() ?? new Uint8Array(MAX_PAGES_MESSAGE_BYTES);
  }

  /**
   * Sends the first `length` bytes of a buffer from pageBuffer. ws holds on to the bytes (the
   * stream is not masked, so it does not copy them) until the socket has written them: the
   * buffer is free again only in the send's callback.
   */
  sendPages(buf: Uint8Array, length: number): void {
    if (this.ended || !this.open) {
      this.buffersOut--;
      this.spare.push(buf);
      throw this.ended ?? migrationError(`the connection to the ${this.peer} is closed`);
    }
    this.ws.send(buf.subarray(0, length), (err) => {
      this.buffersOut--;
      // A failed write may still hold the bytes: that buffer is dropped, not reused.
      if (!err) this.spare.push(buf);
      const b = this.bufferWaiter;
      this.bufferWaiter = null;
      b?.();
    });
  }

  /** The next message (ERROR messages become an ApiError naming what the peer said). */
  async next(timeoutMs: number, waitingFor: string): Promise<MigrationMessage> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      if (this.ended) throw this.ended;
      const left = deadline - Date.now();
      if (left <= 0)
        throw migrationError(`the ${this.peer} did not answer within ${timeoutMs} ms (waiting for ${waitingFor})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    const m = this.queue.shift()!;
    if (m.type === MSG.error) throw migrationError(`the ${this.peer} refused: ${m.message}`);
    return m;
  }

  /** Sends, waiting while more than 8 MiB are queued for the socket (the guest runs meanwhile). */
  async send(bytes: Uint8Array): Promise<void> {
    if (this.ended) throw this.ended;
    if (!this.open) throw migrationError(`the connection to the ${this.peer} is closed`);
    this.ws.send(bytes);
    while (this.ws.bufferedAmount > 8 * 1024 * 1024) {
      if (this.ended) throw this.ended;
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  sendError(code: string, message: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeError(code, message));
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }
}

/** Opens the stream to the destination; a refused upgrade (wrong token, no such route) says why. */
function connect(target: MigrationTarget, timeoutMs: number): Promise<Channel> {
  const url = migrationUrl(target.url);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, MIGRATION_SUBPROTOCOL, {
      headers: { authorization: `Bearer ${target.token}` },
      maxPayload: MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
      // An all-zero masking key: ws then sends the PAGES buffers as they are instead of a masked
      // copy of each. Masking (RFC 6455) keeps browser scripts from steering caching proxies;
      // daemons are not browsers, and wss:// hides the bytes from any proxy anyway.
      generateMask: (mask: Buffer) => {
        mask.fill(0);
      },
      handshakeTimeout: timeoutMs,
      ...(target.ca !== undefined ? { ca: target.ca } : {}),
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 4096) body += c;
      });
      res.on('end', () => {
        let why = `HTTP ${res.statusCode}`;
        try {
          const e = JSON.parse(body) as { error?: { message?: string } };
          if (typeof e.error?.message === 'string') why += `: ${e.error.message}`;
        } catch {
          // not an API error body
        }
        ws.terminate();
        reject(
          res.statusCode === 401
            ? new ApiError('unauthorized', `the destination ${target.url} refused the token (${why})`)
            : migrationError(`the destination ${target.url} refused the migration stream (${why})`),
        );
      });
    });
    // `on`, not `once`: terminating a refused handshake emits another error, which must not go unheard.
    const onError = (e: Error) => reject(migrationError(`cannot reach the destination ${target.url}: ${e.message}`, e));
    ws.on('error', onError);
    ws.once('open', () => {
      ws.off('error', onError);
      resolve(new Channel(ws, 'destination'));
    });
  });
}

/**
 * Moves domain `id` of `manager` to the daemon at `target` (see the module comment). Resolves
 * once the domain runs there and is gone here; rejects with an ApiError, the domain as it was
 * (running or paused) on the source, except in the in-doubt case docs/migration.md describes.
 */
export async function migrateDomain(
  manager: HypervisorDomainManager,
  id: number,
  target: MigrationTarget,
  options: MigrationTuning & { onProgress?: (p: MigrationProgress) => void; log?: Logger } = {},
): Promise<MigrateResult> {
  const d = manager.outgoing(id);
  const maxRounds = options.maxRounds ?? 30;
  const stopPages = options.stopPages ?? 256;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const blocker = d.blocker();
  if (blocker !== null) {
    throw new ApiError(
      'bad-state',
      `cannot migrate ${blocker}: close them first (docs/migration.md, "Domains linked to others")`,
    );
  }
  const started = performance.now();
  const hello: Hello = {
    protocol: MIGRATION_PROTOCOL,
    snapshotVersion: SNAPSHOT_VERSION,
    pvm: PVM_VERSION,
    name: d.name,
    config: d.config as Record<string, unknown>,
    ramBase: d.ram.base,
    ramBytes: d.ram.size,
    disks: await d.disks(),
    ...(d.pvxDomid !== undefined ? { pvxDomid: d.pvxDomid } : {}),
  };
  const ch = await connect(target, timeoutMs);
  const ram = d.ram;
  const pageCount = ram.size / MIGRATION_PAGE_SIZE;
  const rounds: MigrateRound[] = [];
  let bytes = 0;
  const progress = (phase: string, done: number, total: number) => options.onProgress?.({ phase, done, total });
  /** Sends `list` as round `round`, letting the guest run between messages. */
  const sendPages = async (round: number, list: ArrayLike<number>, phase: string, yieldBetween: boolean) => {
    const t0 = performance.now();
    let sent = 0;
    for (let i = 0; i < list.length; i += MAX_PAGES_PER_MESSAGE) {
      const to = Math.min(list.length, i + MAX_PAGES_PER_MESSAGE);
      const buf = await ch.pageBuffer();
      const length = encodePagesInto(buf, ram.u8, round, list, i, to);
      ch.sendPages(buf, length);
      sent += length;
      if (yieldBetween) {
        progress(phase, to, list.length);
        await tick();
        if (!d.alive()) throw migrationError(`domain ${d.name} stopped during the migration`);
      }
    }
    bytes += sent;
    rounds.push({ round, pages: list.length, bytes: sent, ms: Math.round((performance.now() - t0) * 10) / 10 });
  };

  let paused = false;
  let wasRunning = d.running();
  let disksHandedOver = false;
  /** Past the commit point: whatever happens now, the source never rolls back on its own. */
  let goSent = false;
  /** Before GO: undo everything, the domain as it was. */
  const rollBack = async () => {
    ram.dirty.stop();
    if (disksHandedOver) await takeBack(d);
    if (paused && wasRunning && d.alive()) await d.unpause();
  };
  try {
    await ch.send(encodeHello(hello));
    const answer = await ch.next(timeoutMs, 'ACCEPT');
    if (answer.type !== MSG.accept)
      throw migrationError(`the destination sent ${messageName(answer.type)}, not ACCEPT`);
    // Pre-copy.
    ram.dirty.start();
    const all = new Uint32Array(pageCount);
    for (let p = 0; p < pageCount; p++) all[p] = p;
    await sendPages(1, all, 'round 1', true);
    let previous = Number.POSITIVE_INFINITY;
    let synced = false;
    for (let round = 2; ; ) {
      const dirty = ram.dirty.count();
      // Converged, out of rounds, or not shrinking any more (a guest dirtying faster than the
      // stream): stop and copy, as QEMU and Xen do. A log that misses stores (harts on
      // threads) is no use: stop and copy every page at once.
      if (d.untrackedWrites || dirty <= stopPages || round > maxRounds || (round > 5 && dirty >= previous)) {
        if (synced) break;
        // First the destination catches up with what was sent, while the guest runs: it may be
        // slower than the source (its fresh RAM is faulted in page by page), and whatever it
        // still has to apply after the pause would be downtime. Then look again: the guest ran.
        progress('sync', 0, 1);
        await ch.send(encodeEmpty(MSG.sync));
        const answer = await ch.next(timeoutMs, 'SYNCED');
        if (answer.type !== MSG.synced)
          throw migrationError(`the destination sent ${messageName(answer.type)}, not SYNCED`);
        synced = true;
        progress('sync', 1, 1);
        continue;
      }
      previous = dirty;
      await sendPages(round, ram.dirty.harvest(), `round ${round}`, true);
      synced = false;
      round++;
    }
    // Stop-and-copy, after a collection (collectGarbage) while the guest still runs.
    collectGarbage();
    wasRunning = d.running();
    if (!d.alive()) throw migrationError(`domain ${d.name} stopped during the migration`);
    const stopAt = performance.now();
    await d.pause();
    const pausedAt = performance.now();
    paused = true;
    if (!d.alive()) throw migrationError(`domain ${d.name} stopped during the migration`);
    const snap = await d.snapshot(); // drains the disks' requests into RAM first
    const last = d.untrackedWrites ? all : ram.dirty.harvest();
    ram.dirty.stop();
    progress('stop-and-copy', 0, last.length);
    await sendPages(rounds.length + 1, last, 'stop-and-copy', false);
    progress('stop-and-copy', last.length, last.length);
    await d.handOverDisks();
    disksHandedOver = true;
    const state = encodeSnapshotBytes(
      {
        ...snap,
        // Whether it runs on the destination or stays paused there, as it was here.
        meta: { ...snap.meta, running: wasRunning },
        ram: { base: snap.ram.base, bytes: new Uint8Array(MIGRATION_PAGE_SIZE) },
      },
      STREAM_CODECS,
    );
    await ch.send(encodeState(state));
    const sentAt = performance.now();
    bytes += state.length + 1;
    const loaded = await ch.next(timeoutMs, 'LOADED');
    if (loaded.type !== MSG.loaded)
      throw migrationError(`the destination sent ${messageName(loaded.type)}, not LOADED`);
    const loadedAt = performance.now();
    // The commit point: from GO on, the source never runs its copy again.
    progress('go', 0, 1);
    await ch.send(encodeEmpty(MSG.go));
    goSent = true;
    let confirmedBy: MigrateResult['confirmedBy'] = 'resumed';
    try {
      const resumed = await ch.next(timeoutMs, 'RESUMED');
      if (resumed.type !== MSG.resumed)
        throw migrationError(`the destination sent ${messageName(resumed.type)}, not RESUMED`);
    } catch (e) {
      options.log?.warn(
        { domain: d.name, err: toApiError(e).message },
        'migration: no RESUMED; asking the destination',
      );
      await resolveInDoubt(d, target, timeoutMs, toApiError(e), wasRunning);
      confirmedBy = 'query';
    }
    progress('go', 1, 1);
    const now = performance.now();
    const ms = (x: number) => Math.round(x * 10) / 10;
    const downtimeMs = ms(now - stopAt);
    const downtimeParts = {
      pauseMs: ms(pausedAt - stopAt),
      copyMs: ms(sentAt - pausedAt),
      loadMs: ms(loadedAt - sentAt),
      resumeMs: ms(now - loadedAt),
    };
    ch.close();
    await manager.destroy(id);
    return {
      name: d.name,
      to: target.url,
      downtimeMs,
      downtimeParts,
      totalMs: Math.round(performance.now() - started),
      rounds,
      bytes,
      confirmedBy,
      state: 'migrated',
    };
  } catch (e) {
    const err = toApiError(e);
    // After GO resolveInDoubt decided (and did) what the source does; never roll back here.
    if (goSent) throw err;
    ch.sendError(err.code, err.message);
    ch.close();
    try {
      await rollBack();
    } catch (r) {
      // The image locks could not be taken back: another holder has them. The copy here must not run.
      d.crash(`migration failed and the disks could not be locked again: ${toApiError(r).message}`);
      throw migrationError(`${err.message}; then the disks could not be locked again (${toApiError(r).message})`);
    }
    throw err;
  }
}

/** How long the destination waits for GO once it has loaded the domain (then it discards its copy). */
const GO_WAIT_MS = 30_000;

/**
 * Takes the image locks back after a failure. The destination may still hold them for a moment
 * (it loaded the domain and has not yet seen the connection end), and at most GO_WAIT_MS.
 */
async function takeBack(d: OutgoingDomain): Promise<void> {
  const deadline = Date.now() + GO_WAIT_MS + 10_000;
  for (;;) {
    try {
      d.takeBackDisks();
      return;
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 'in-use') || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * GO was sent but RESUMED did not come. The destination resumes if and only if it received GO,
 * and discards its copy when the connection ends before GO: so ask it (a new connection, the
 * same token) whether the domain runs there. Running: the source's copy is dropped (the
 * migration succeeded). Absent: the source takes its disks back and runs again. No answer: the
 * source's copy stays paused, disks released, and the error says so: the operator looks at the
 * destination and then destroys or unpauses it (as `xl migrate` leaves a domain it cannot vouch for).
 */
async function resolveInDoubt(
  d: OutgoingDomain,
  target: MigrationTarget,
  timeoutMs: number,
  why: ApiError,
  wasRunning: boolean,
) {
  const base = new URL(target.url.replace(/^ws/, 'http'));
  const url = new URL(`/v1/domains/${encodeURIComponent(d.name)}`, base);
  const deadline = Date.now() + Math.min(timeoutMs, 15_000);
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await getJson(url, target);
      if (res.status === 200) {
        const info = (res.body ?? {}) as { state?: string };
        // Running (or already ended) there: it is the destination's. Paused: either waiting for a
        // GO that will not come (it will be discarded) or a domain that was paused here.
        if (info.state === 'running' || info.state === 'shutoff' || info.state === 'crashed') return;
        if (info.state === 'paused' && !wasRunning) return;
        last = `it is ${info.state} there`;
      } else if (res.status === 404) {
        // Gone there (or never committed): the destination discarded its copy. Run here again.
        await takeBack(d);
        if (wasRunning) await d.unpause();
        throw migrationError(
          `${why.message}; the destination discarded its copy, so domain ${d.name} runs on the source again`,
        );
      } else last = `HTTP ${res.status}`;
    } catch (e) {
      if (e instanceof ApiError) throw e;
      last = e instanceof Error ? e.message : String(e);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw migrationError(
    `in doubt: ${why.message}, after the source let go (GO sent), and the destination cannot be asked (${last}); ` +
      `domain ${d.name} stays paused on the source with its disks released: if it runs on ${target.url}, destroy it here, otherwise unpause it`,
  );
}

/** GET `url` with the target's token (and CA for https), its status and JSON body; 2 s at most. */
function getJson(url: URL, target: MigrationTarget): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      url,
      {
        headers: { authorization: `Bearer ${target.token}` },
        timeout: 2000,
        ...(target.ca !== undefined ? { ca: target.ca } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (text.length < 1 << 20) text += c;
        });
        res.on('end', () => {
          let body: unknown = null;
          try {
            body = JSON.parse(text);
          } catch {
            body = null;
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 2 s')));
    req.on('error', reject);
    req.end();
  });
}

export interface MigrationEndpointOptions {
  /** Most guest RAM all this daemon's domains may have together, incoming ones included (default: no limit). */
  readonly memoryLimitBytes?: number;
  readonly announce?: AnnounceNics;
}

/**
 * The destination: accepts migration streams on GET /v1/migrate (the listener checked the
 * token), one state machine per connection. A stream that ends or misbehaves before GO leaves
 * nothing behind; after GO the domain runs here whatever happens to the connection.
 */
export class MigrationEndpoint {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
    clientTracking: false,
    handleProtocols: (protocols) => (protocols.has(MIGRATION_SUBPROTOCOL) ? MIGRATION_SUBPROTOCOL : false),
  });
  private readonly open = new Set<WebSocket>();

  constructor(
    private readonly control: ControlPlane,
    private readonly manager: MigrationHost | null,
    private readonly options: MigrationEndpointOptions = {},
  ) {}

  accept(req: IncomingMessage, socket: Duplex, head: Buffer, log: Logger): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.open.add(ws);
      ws.once('close', () => this.open.delete(ws));
      const ch = new Channel(ws, 'source');
      this.receive(ch, log).catch((e: unknown) => {
        const err = toApiError(e);
        log.warn({ err: err.message }, 'incoming migration failed');
        ch.sendError(err.code, err.message);
        ch.close();
      });
    });
  }

  close(): void {
    for (const ws of this.open) ws.close(1001, 'daemon stopping');
    this.open.clear();
  }

  private async receive(ch: Channel, log: Logger): Promise<void> {
    const first = await ch.next(60_000, 'HELLO');
    if (first.type !== MSG.hello) throw new ApiError('bad-request', `expected HELLO, got ${messageName(first.type)}`);
    const hello = first.hello;
    if (this.manager === null) throw new ApiError('bad-request', 'this daemon does not run hypervisor domains');
    const spec = await this.check(hello);
    // Held until the domain is listed or discarded: a create or a second stream meanwhile is refused.
    if (!this.control.holdName(spec.name)) {
      throw new ApiError('name-taken', `a domain named ${spec.name} already exists on the destination`);
    }
    let incoming: IncomingDomain | null = null;
    let committed = false;
    try {
      try {
        incoming = await this.manager.incoming(spec, hello.pvxDomid);
      } catch (e) {
        if (e instanceof RangeError)
          throw new ApiError('bad-request', `out of memory: cannot allocate ${hello.ramBytes} bytes of guest RAM`);
        throw e;
      }
      const ram = incoming.ram;
      if (ram.size !== hello.ramBytes || ram.base !== hello.ramBase) {
        throw new ApiError(
          'bad-image',
          `the config builds ${ram.size} bytes of RAM at 0x${ram.base.toString(16)}, the source has ${hello.ramBytes}`,
        );
      }
      ch.ramPages = ram.size / MIGRATION_PAGE_SIZE;
      await ch.send(encodeEmpty(MSG.accept));
      log.info({ domain: spec.name, bytes: ram.size }, 'incoming migration accepted');
      let pages = 0;
      for (;;) {
        const m = await ch.next(120_000, 'PAGES, SYNC or STATE');
        if (m.type === MSG.pages) {
          incoming.write(m);
          pages += m.count;
          continue;
        }
        if (m.type === MSG.sync) {
          // Messages are applied in order: every PAGES before this one is in RAM. The stopped
          // window follows: collect the stream's garbage first (collectGarbage).
          collectGarbage();
          await incoming.applied();
          await ch.send(encodeEmpty(MSG.synced));
          continue;
        }
        if (m.type !== MSG.state)
          throw new ApiError('bad-request', `expected PAGES, SYNC or STATE, got ${messageName(m.type)}`);
        let snap: DomainSnapshot;
        try {
          snap = decodeSnapshotBytes(m.snapshot, STREAM_CODECS);
        } catch (e) {
          throw new ApiError('bad-image', `STATE: ${e instanceof Error ? e.message : String(e)}`);
        }
        const handle = await incoming.commit(snap);
        committed = true;
        log.info({ domain: spec.name, pages }, 'incoming migration loaded');
        await ch.send(encodeEmpty(MSG.loaded));
        let go: MigrationMessage;
        try {
          go = await ch.next(GO_WAIT_MS, 'GO');
        } catch (e) {
          // No GO: the source keeps (or takes back) its copy. Ours goes.
          await this.manager.destroy(handle.id);
          throw e;
        }
        if (go.type !== MSG.go) {
          await this.manager.destroy(handle.id);
          throw new ApiError('bad-request', `expected GO, got ${messageName(go.type)}`);
        }
        // Resumed at once, in the same turn as GO arrived: a source that asks after a cut sees it
        // running. A domain that was paused on the source stays paused here.
        if (snap.meta.running !== false) await this.manager.unpause(handle.id);
        (this.options.announce ?? announceDomainNics)(this.manager, handle.id);
        log.info({ domain: spec.name }, 'incoming migration resumed');
        if (ch.open) ch.ws.send(encodeEmpty(MSG.resumed));
        ch.close();
        return;
      }
    } finally {
      this.control.releaseName(spec.name);
      if (!committed) await incoming?.discard();
    }
  }

  /** Refuses what cannot arrive here, with the reason, before anything is built. */
  private async check(h: Hello): Promise<DomainSpec> {
    if (h.protocol !== MIGRATION_PROTOCOL) {
      throw new ApiError(
        'bad-request',
        `incompatible migration protocol ${h.protocol} (pvm ${h.pvm}); this pvm ${PVM_VERSION} speaks protocol ${MIGRATION_PROTOCOL}`,
      );
    }
    if (h.snapshotVersion !== SNAPSHOT_VERSION) {
      throw new ApiError(
        'bad-request',
        `incompatible state format: the source (pvm ${h.pvm}) writes snapshot version ${h.snapshotVersion}, this pvm ${PVM_VERSION} reads version ${SNAPSHOT_VERSION}`,
      );
    }
    let spec: DomainSpec;
    try {
      spec = parseDomainSpec({ ...h.config, name: h.name });
    } catch (e) {
      throw new ApiError('bad-request', `the domain's config: ${toApiError(e).message}`);
    }
    if (this.control.nameInUse(spec.name)) {
      throw new ApiError('name-taken', `a domain named ${spec.name} already exists on the destination`);
    }
    if (spec.memory !== h.ramBytes) {
      throw new ApiError('bad-request', `HELLO: ${h.ramBytes} bytes of RAM, the config says ${spec.memory}`);
    }
    const limit = this.options.memoryLimitBytes;
    if (limit !== undefined) {
      const used = this.control.domains.list().reduce((a, d) => a + this.control.domains.info(d.id).memoryBytes, 0);
      if (used + h.ramBytes > limit) {
        throw new ApiError(
          'bad-request',
          `out of memory: the domain needs ${h.ramBytes} bytes, this daemon has ${Math.max(0, limit - used)} of its ${limit} left`,
        );
      }
    }
    const blks = spec.devices.flatMap((x) => (x.kind === 'blk' ? [x.path] : []));
    if (blks.length !== h.disks.length || blks.some((p, i) => p !== h.disks[i]!.path)) {
      throw new ApiError('bad-request', 'HELLO: the disks do not match the config');
    }
    for (const disk of h.disks) {
      let st: Awaited<ReturnType<typeof stat>>;
      try {
        st = await stat(disk.path);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new ApiError(
          'bad-image',
          `disk ${disk.path} is not on the destination (${code === 'ENOENT' ? 'no such file' : code}): migration needs the same path on shared storage on both hosts`,
        );
      }
      if (!st.isFile()) throw new ApiError('bad-image', `disk ${disk.path} is not a regular file on the destination`);
      if (st.size !== disk.size) {
        throw new ApiError(
          'bad-image',
          `disk ${disk.path} is ${st.size} bytes on the destination and ${disk.size} on the source: not the same file (migration needs shared storage)`,
        );
      }
      if (st.ino !== disk.ino) {
        throw new ApiError(
          'bad-image',
          `disk ${disk.path} is another file on the destination (inode ${st.ino}, ${disk.ino} on the source): migration needs the same file on shared storage`,
        );
      }
    }
    return spec;
  }
}
