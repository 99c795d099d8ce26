import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { CONSOLE_SUBPROTOCOL, type ConsoleSession } from '../api/commands.js';
import type { ControlPlane } from '../api/control.js';
import type { Logger } from '../host/logger.js';

/**
 * The console protocol: a WebSocket (RFC 6455) on `GET /v1/domains/{domain}/console`, the one
 * endpoint the CLI (`pvm console`), the library client and the dashboard's xterm.js all speak.
 *
 * - server → client: binary messages of raw console bytes; the first carries the recent output
 *   (the history ring), then live output as the guest writes it.
 * - client → server: binary or text messages are guest input (text as UTF-8), when attached
 *   with `?write=true`; ignored otherwise.
 * - The server closes with 1000 when the domain is destroyed, 1001 when the daemon stops, and
 *   1008 when the client leaves more than MAX_CONSOLE_BACKLOG bytes unread (a client that does
 *   not read cannot make the daemon hold the guest's output for it).
 */
/** Bytes a console client may leave unread before the daemon drops it. */
export const MAX_CONSOLE_BACKLOG = 1024 * 1024;
/** Largest input message (a paste); bigger ones close the socket (1009). */
export const MAX_CONSOLE_MESSAGE = 64 * 1024;

export const WS_CLOSE = { normal: 1000, goingAway: 1001, policy: 1008 } as const;

/** Attaches accepted WebSocket upgrades to console sessions; `close` ends them all. */
export class ConsoleEndpoint {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_CONSOLE_MESSAGE,
    perMessageDeflate: false,
    clientTracking: false,
    // A client may ask for the pvm-console subprotocol; one that asks for nothing is served too.
    handleProtocols: (protocols) => (protocols.has(CONSOLE_SUBPROTOCOL) ? CONSOLE_SUBPROTOCOL : false),
  });
  private readonly open = new Set<WebSocket>();

  constructor(private readonly control: ControlPlane) {}

  /** Whether `req` asks for a WebSocket (otherwise it is a plain request or an unknown upgrade). */
  static isWebSocket(req: IncomingMessage): boolean {
    return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
  }

  /**
   * Completes the handshake for a session already attached (the caller validated the route and
   * ran the console-attach command). If the handshake fails (not a valid WebSocket request) the
   * session is detached and the socket answered 400 by `ws`.
   */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, session: ConsoleSession, log: Logger): void {
    let upgraded = false;
    socket.once('close', () => {
      if (!upgraded) session.detach();
    });
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      upgraded = true;
      this.serve(ws, session, log);
    });
  }

  private serve(ws: WebSocket, session: ConsoleSession, log: Logger): void {
    this.open.add(ws);
    log.info({ domain: session.domain.name, write: session.writable }, 'console attached');
    const send = (data: Uint8Array): void => {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount + data.length > MAX_CONSOLE_BACKLOG) {
        log.warn({ domain: session.domain.name, unread: ws.bufferedAmount }, 'console client does not read; closed');
        ws.close(WS_CLOSE.policy, 'console client too slow');
        // close() waits for the client's answer, which a client that does not read never sends.
        setTimeout(() => ws.terminate(), 1000).unref();
        return;
      }
      ws.send(data, { binary: true });
    };
    // History first (possibly empty, so the client knows it is attached), then live output.
    send(session.history);
    session.onOutput(send);
    const stopWatching = this.control.domains.subscribe((ev) => {
      if (ev.type === 'removed' && ev.id === session.domain.id) ws.close(WS_CLOSE.normal, 'domain destroyed');
    });
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (!session.writable) return;
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (bytes.length === 0) return;
      void isBinary; // text input is its UTF-8 bytes, as a terminal would send them
      try {
        session.write(new Uint8Array(bytes));
      } catch {
        ws.close(WS_CLOSE.policy, 'console input refused');
      }
    });
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      if (!this.open.delete(ws)) return;
      stopWatching();
      session.detach();
      log.info({ domain: session.domain.name }, 'console detached');
    });
  }

  /** Daemon shutdown: every console is closed (1001). */
  close(): void {
    for (const ws of this.open) {
      ws.close(WS_CLOSE.goingAway, 'daemon stopping');
      ws.terminate();
    }
    this.wss.close();
  }
}
