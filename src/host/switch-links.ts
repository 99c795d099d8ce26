/**
 * Switches joined across daemons (docs/networking.md, "Switches across daemons"): each link is
 * a WebSocket to `GET /v1/switches/{switch}/link` on the peer daemon's TCP or HTTP listener,
 * authenticated with the peer's bearer token, subprotocol `pvm-switch-link.1`, carrying
 * batches of Ethernet frames (src/devices/switch-link.ts). On both daemons the link is a peer
 * port of the switch of that name.
 *
 * The daemon that joined (`pvm switch join`) dials, and redials with backoff whenever the
 * connection ends, until the link is left; the other side keeps its port only while the
 * connection is up. Both sides ping every PING_MS and drop a connection whose peer has not
 * answered the previous ping (a peer that went away without closing, or stopped reading).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { ApiError } from '../api/errors.js';
import { USER_SWITCH } from '../api/spec.js';
import { SWITCH_NAME, type SwitchInfo, type SwitchLinkInfo, type SwitchNetwork } from '../api/switches.js';
import type { SwitchPort, VirtualSwitch } from '../devices/switch.js';
import { type LinkChannel, MAX_LINK_MESSAGE, SwitchLinkPort } from '../devices/switch-link.js';

export const SWITCH_LINK_SUBPROTOCOL = 'pvm-switch-link.1';
/** Request and response header naming the daemon at each end (refuses a daemon joining itself, or a pair joined twice). */
export const DAEMON_ID_HEADER = 'pvm-daemon-id';
const PING_MS = 10_000;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
const HANDSHAKE_MS = 10_000;
/** WebSocket close codes: policy (1008) for protocol errors, going away (1001) at leave or shutdown. */
const CLOSE_POLICY = 1008;
const CLOSE_AWAY = 1001;

/** Where the switches live: the daemon's switch registry (src/host/builder.ts). */
export interface SwitchSource {
  get(name: string): VirtualSwitch;
  list(): VirtualSwitch[];
}

export interface SwitchLinksOptions {
  /** Told when a link goes down or comes back (the daemon logs it). */
  readonly onEvent?: (message: string, fields: Record<string, unknown>) => void;
  /** Ping interval (tests shorten it). */
  readonly pingMs?: number;
}

/** One live connection of a link: the WebSocket and the peer port it feeds. */
class Connection {
  readonly endpoint: SwitchLinkPort;
  readonly port: SwitchPort;
  private alive = true;
  private readonly pinger: NodeJS.Timeout;
  private ended = false;

  constructor(
    readonly ws: WebSocket,
    sw: VirtualSwitch,
    pingMs: number,
    private readonly onEnd: (reason: string) => void,
  ) {
    const channel: LinkChannel = {
      send: (m) => ws.send(m, { binary: true }),
      get queuedBytes() {
        return ws.bufferedAmount;
      },
      close: (reason) => this.end(reason, CLOSE_POLICY),
    };
    this.endpoint = new SwitchLinkPort(channel, (fn) => void setImmediate(fn));
    this.port = sw.attachPeer(this.endpoint);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) return this.end('a text message (the link carries binary frames)', CLOSE_POLICY);
      // A Buffer as it came (ws's default binary type): no copy on the way to the switch.
      const bytes = Array.isArray(data)
        ? Buffer.concat(data)
        : data instanceof ArrayBuffer
          ? new Uint8Array(data)
          : data;
      this.endpoint.receive(bytes);
    });
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('close', (code, why) => this.end(`closed by the peer (${code}${why.length ? `: ${why}` : ''})`));
    ws.on('error', (e) => this.end(e.message));
    this.pinger = setInterval(() => {
      if (!this.alive) return this.end(`no answer to a ping in ${pingMs} ms`);
      this.alive = false;
      ws.ping();
    }, pingMs);
    this.pinger.unref();
  }

  /** Unplugs the port and ends the socket; `onEnd` hears why, once. */
  end(reason: string, code?: number): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.pinger);
    this.endpoint.close();
    this.port.detach();
    if (code !== undefined && this.ws.readyState === WebSocket.OPEN) {
      this.ws.close(code, reason.slice(0, 120));
      setTimeout(() => this.ws.terminate(), 1000).unref();
    } else this.ws.terminate();
    this.onEnd(reason);
  }

  report(): Omit<SwitchLinkInfo, 'direction' | 'peer' | 'state' | 'connects' | 'error'> {
    const s = this.port.stats;
    return {
      txFrames: s.txFrames,
      txBytes: s.txBytes,
      rxFrames: s.rxFrames,
      rxBytes: s.rxBytes,
      dropped: this.endpoint.stats.dropped,
      malformed: this.endpoint.stats.malformed,
    };
  }
}

/** A link this daemon dialed: it redials until left. Counters add up over its connections. */
class OutLink {
  conn: Connection | null = null;
  connects = 0;
  error: string | undefined;
  peerId: string | undefined;
  left = false;
  private retry: NodeJS.Timeout | null = null;
  private backoff = BACKOFF_MIN_MS;
  private past = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, dropped: 0, malformed: 0 };

  constructor(
    readonly sw: VirtualSwitch,
    readonly url: string,
    private readonly token: string,
    private readonly links: SwitchLinks,
  ) {}

  /** Dials now and, if that fails, again with backoff until up or left (`join` without waiting). */
  start(): void {
    this.dial().then(
      () =>
        this.links.event(`switch ${this.sw.name}: link to ${this.url} up`, { switch: this.sw.name, peer: this.url }),
      (e: Error) => {
        this.error = e.message.replace(/^cannot join switch \S+ to \S+: /, '');
        this.schedule();
      },
    );
  }

  /** One attempt: resolves once up, rejects with why it could not be made. */
  dial(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(linkUrl(this.url, this.sw.name), SWITCH_LINK_SUBPROTOCOL, {
        headers: { authorization: `Bearer ${this.token}`, [DAEMON_ID_HEADER]: this.links.id },
        maxPayload: MAX_LINK_MESSAGE,
        perMessageDeflate: false,
        handshakeTimeout: HANDSHAKE_MS,
        followRedirects: false,
      });
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        ws.terminate();
        reject(new ApiError('io', `cannot join switch ${this.sw.name} to ${this.url}: ${why}`));
      };
      ws.on('upgrade', (res: IncomingMessage) => {
        const id = res.headers[DAEMON_ID_HEADER];
        this.peerId = typeof id === 'string' ? id : undefined;
      });
      ws.on('unexpected-response', (_req, res: IncomingMessage) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (s: string) => {
          body += s;
          // A peer that answers with an endless body is not read to its end.
          if (body.length > 4096) {
            res.destroy();
            fail(`the peer answered ${res.statusCode} with more than 4096 bytes`);
          }
        });
        res.on('end', () => {
          let msg = body.trim();
          try {
            msg = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? msg;
          } catch {}
          fail(`the peer answered ${res.statusCode}${msg ? `: ${msg}` : ''}`);
        });
        res.on('error', () => fail(`the peer answered ${res.statusCode}`));
      });
      ws.on('error', (e: NodeJS.ErrnoException) => fail(e.code === 'ECONNREFUSED' ? 'connection refused' : e.message));
      ws.on('open', () => {
        if (settled) return;
        if (this.left) return fail('the link was left while it was dialed');
        if (ws.protocol !== SWITCH_LINK_SUBPROTOCOL) return fail(`the peer does not speak ${SWITCH_LINK_SUBPROTOCOL}`);
        // Both daemons joined each other (the check on the peer's side raced with its own dial):
        // a second link would carry every frame twice.
        if (this.links.linkedFrom(this.sw, this.peerId)) {
          return fail('that daemon joined this one on this switch already (join each pair from one side)');
        }
        settled = true;
        this.connects++;
        this.error = undefined;
        this.backoff = BACKOFF_MIN_MS;
        this.conn = new Connection(ws, this.sw, this.links.pingMs, (reason) => this.lost(reason));
        resolve();
      });
    });
  }

  private lost(reason: string): void {
    if (this.conn) {
      const r = this.conn.report();
      for (const k of Object.keys(this.past) as (keyof typeof this.past)[]) this.past[k] += r[k];
    }
    this.conn = null;
    if (this.left) return;
    this.error = reason;
    this.links.event(`switch ${this.sw.name}: link to ${this.url} lost: ${reason}; redialing`, {
      switch: this.sw.name,
      peer: this.url,
    });
    this.schedule();
  }

  private schedule(): void {
    if (this.left || this.retry !== null) return;
    const wait = this.backoff;
    this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
    this.retry = setTimeout(() => {
      this.retry = null;
      this.dial().then(
        () =>
          this.links.event(`switch ${this.sw.name}: link to ${this.url} up again`, {
            switch: this.sw.name,
            peer: this.url,
          }),
        (e: Error) => {
          this.error = e.message.replace(/^cannot join switch \S+ to \S+: /, '');
          this.schedule();
        },
      );
    }, wait);
    this.retry.unref();
  }

  leave(): void {
    this.left = true;
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
    this.conn?.end('left', CLOSE_AWAY);
  }

  info(): SwitchLinkInfo {
    const now = this.conn?.report() ?? { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, dropped: 0, malformed: 0 };
    const sum = Object.fromEntries(
      Object.entries(this.past).map(([k, v]) => [k, v + now[k as keyof typeof now]]),
    ) as typeof now;
    return {
      direction: 'out',
      peer: this.url,
      state: this.conn ? 'up' : 'connecting',
      ...(this.error !== undefined && { error: this.error }),
      connects: this.connects,
      ...sum,
    };
  }
}

/** A link a peer dialed: listed while up. */
interface InLink {
  readonly sw: VirtualSwitch;
  readonly remote: string;
  readonly peerId: string | undefined;
  readonly conn: Connection;
}

/** `http://host:port` (a daemon's TCP or HTTP listener) -> `ws://host:port/v1/switches/NAME/link`. */
export function linkUrl(base: string, name: string): string {
  const u = new URL(base);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/switches/${encodeURIComponent(name)}/link`;
  u.search = '';
  u.hash = '';
  return u.toString();
}

/** Checks a peer URL given to join: http(s), with a host, no credentials, query or fragment. */
export function checkPeerUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ApiError('bad-request', `peer ${JSON.stringify(url)} is not a URL (expected http://HOST:PORT)`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '') {
    throw new ApiError('bad-request', `peer ${url}: expected http://HOST:PORT (a pvm daemon's TCP or HTTP listener)`);
  }
  if (u.username || u.password || u.search || u.hash) {
    throw new ApiError('bad-request', `peer ${url}: no credentials, query or fragment (the token goes separately)`);
  }
  return url.replace(/\/+$/, '');
}

/** Refuses a switch name that cannot be joined (malformed, or `user`). */
export function checkSwitchName(name: string): void {
  if (!SWITCH_NAME.test(name)) throw new ApiError('bad-request', `bad switch name ${JSON.stringify(name)}`);
  if (name === USER_SWITCH) {
    throw new ApiError(
      'bad-request',
      `switch ${USER_SWITCH} is each NIC's private user-mode network: it cannot be joined`,
    );
  }
}

/** The links of one daemon's switches. */
export class SwitchLinks implements SwitchNetwork {
  /** This daemon's identity for links, random per process. */
  readonly id = randomBytes(12).toString('hex');
  readonly pingMs: number;
  private readonly out: OutLink[] = [];
  private readonly in = new Set<InLink>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_LINK_MESSAGE,
    perMessageDeflate: false,
    clientTracking: false,
    handleProtocols: (protocols) => (protocols.has(SWITCH_LINK_SUBPROTOCOL) ? SWITCH_LINK_SUBPROTOCOL : false),
  });
  private closed = false;

  constructor(
    private readonly switches: SwitchSource,
    private readonly options: SwitchLinksOptions = {},
  ) {
    this.pingMs = options.pingMs ?? PING_MS;
    this.wss.on('headers', (headers) => headers.push(`${DAEMON_ID_HEADER}: ${this.id}`));
  }

  event(message: string, fields: Record<string, unknown>): void {
    this.options.onEvent?.(message, fields);
  }

  list(): SwitchInfo[] {
    return this.switches
      .list()
      .filter((sw) => sw.name !== USER_SWITCH)
      .map((sw) => this.describe(sw));
  }

  private describe(sw: VirtualSwitch): SwitchInfo {
    const links: SwitchLinkInfo[] = [
      ...this.out.filter((l) => l.sw === sw).map((l) => l.info()),
      ...[...this.in]
        .filter((l) => l.sw === sw)
        .map(
          (l): SwitchLinkInfo => ({ direction: 'in', peer: l.remote, state: 'up', connects: 1, ...l.conn.report() }),
        ),
    ];
    return { name: sw.name, ports: sw.portCount, links };
  }

  /** Whether switch `sw` has a link the daemon `peerId` opened to this one. */
  linkedFrom(sw: VirtualSwitch, peerId: string | undefined): boolean {
    return peerId !== undefined && [...this.in].some((l) => l.sw === sw && l.peerId === peerId);
  }

  async join(name: string, url: string, token: string, options: { wait?: boolean } = {}): Promise<SwitchInfo> {
    checkSwitchName(name);
    const peer = checkPeerUrl(url);
    if (this.closed) throw new ApiError('bad-state', 'the daemon is stopping');
    const sw = this.switches.get(name);
    if (this.out.some((l) => l.sw === sw && l.url === peer)) {
      throw new ApiError('in-use', `switch ${name} is already joined to ${peer}`);
    }
    const link = new OutLink(sw, peer, token, this);
    this.out.push(link); // listed (connecting) while the first dial runs; a second join is refused
    if (options.wait === false) {
      // Kept whatever the first dial gives: redialed until up (peers of a cluster start in any order).
      link.start();
      this.event(`switch ${name}: joining ${peer}`, { switch: name, peer });
      return this.describe(sw);
    }
    const drop = () => {
      link.leave();
      const i = this.out.indexOf(link);
      if (i >= 0) this.out.splice(i, 1);
    };
    try {
      await link.dial();
    } catch (e) {
      drop();
      throw e;
    }
    if (link.peerId === this.id) {
      drop();
      throw new ApiError('bad-request', `switch ${name}: ${peer} is this daemon; a switch cannot be joined to itself`);
    }
    this.event(`switch ${name}: joined to ${peer}`, { switch: name, peer });
    return this.describe(sw);
  }

  async leave(name: string, url: string): Promise<SwitchInfo> {
    const peer = url.replace(/\/+$/, '');
    const i = this.out.findIndex((l) => l.sw.name === name && l.url === peer);
    if (i < 0) throw new ApiError('not-found', `switch ${name} is not joined to ${peer}`);
    const [link] = this.out.splice(i, 1);
    link!.leave();
    return this.describe(link!.sw);
  }

  /**
   * Checks a peer's request to link switch `name` before the WebSocket handshake (the route and
   * token were checked by the daemon): refused when the name cannot be joined, the peer is this
   * daemon, or the pair is already linked on that switch.
   */
  checkAccept(name: string, req: IncomingMessage): void {
    checkSwitchName(name);
    if (this.closed) throw new ApiError('bad-state', 'the daemon is stopping');
    const id = req.headers[DAEMON_ID_HEADER];
    const peerId = typeof id === 'string' ? id : undefined;
    if (peerId === this.id)
      throw new ApiError('bad-request', 'a switch cannot be joined to itself (this URL is the daemon that dials)');
    // This daemon joined that one already: a second link between the pair would carry every frame twice.
    if (peerId !== undefined && this.out.some((l) => l.sw.name === name && l.conn !== null && l.peerId === peerId)) {
      throw new ApiError('in-use', `switch ${name} is already joined to that daemon (from this side)`);
    }
    if (!(req.headers['sec-websocket-protocol'] ?? '').split(',').some((p) => p.trim() === SWITCH_LINK_SUBPROTOCOL)) {
      throw new ApiError('bad-request', `a switch link needs the WebSocket subprotocol ${SWITCH_LINK_SUBPROTOCOL}`);
    }
  }

  /** Completes the handshake of a link the peer opened (after `checkAccept`) and plugs its port. */
  accept(name: string, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const id = req.headers[DAEMON_ID_HEADER];
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.closed) return ws.terminate();
      const sw = this.switches.get(name);
      // The peer redialed: its previous connection is dead even if no ping has said so yet.
      for (const old of this.in) {
        if (old.sw === sw && old.peerId !== undefined && old.peerId === id)
          old.conn.end('replaced by a new connection', CLOSE_AWAY);
      }
      const link: InLink = {
        sw,
        remote,
        peerId: typeof id === 'string' ? id : undefined,
        conn: new Connection(ws, sw, this.pingMs, (reason) => {
          this.in.delete(link);
          this.event(`switch ${name}: link from ${remote} ended: ${reason}`, { switch: name, peer: remote });
        }),
      };
      this.in.add(link);
      this.event(`switch ${name}: linked from ${remote}`, { switch: name, peer: remote });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const l of this.out.splice(0)) l.leave();
    for (const l of [...this.in]) l.conn.end('daemon stopping', CLOSE_AWAY);
    this.in.clear();
    this.wss.close();
  }
}
