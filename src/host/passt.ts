/**
 * User-mode networking: a `passt` process as the uplink of a virtual switch. passt (Debian
 * package `passt`, the back end libvirt and QEMU use) gives the network behind it DHCP,
 * DNS forwarding, NDP, NAT of the guest's TCP/UDP/ICMP to host sockets, and port forwards
 * from the host into the guest. pvm writes no TCP/IP stack.
 *
 * The link is QEMU's stream-socket protocol: each Ethernet frame preceded by its length,
 * 4 bytes big-endian, on a Unix stream socket. pvm creates the socket pair itself (the
 * child's fd 3, `passt --fd 3`), so there is no socket file, and passt exits as soon as
 * the socket closes (`--fd` implies `--one-off`): when the switch goes away, or when pvm
 * dies in any way, the kernel closes pvm's end and passt ends with it.
 *
 * passt serves one guest: it hands out one address by DHCP (the host's, by default) and
 * answers the last MAC it heard from.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { PvmError } from '../core/errors.js';
import { finishOffloads, type Offload } from '../devices/net-offload.js';
import {
  ETH_HEADER,
  formatMac,
  MAX_FRAME,
  type NetLink,
  parseMac,
  type SwitchEndpoint,
  type SwitchPort,
  type VirtualSwitch,
} from '../devices/switch.js';

/** A port forward from the host into the guest (`passt -t/-u`). */
export interface PortForward {
  readonly proto: 'tcp' | 'udp';
  /** Host address to bind (127.0.0.1 unless the user names another). */
  readonly hostAddr: string;
  readonly hostPort: number;
  readonly guestPort: number;
}

export interface PasstOptions {
  readonly forwards?: readonly PortForward[];
  /** The passt program (default: `passt` from PATH). */
  readonly binary?: string;
  /** MAC passt uses towards the guest (default 52:55:0a:00:02:02, QEMU's user-mode gateway MAC). */
  readonly mac?: string;
  /** How long passt may take to start (default 15 s). */
  readonly startTimeoutMs?: number;
  /** Called once if passt ends while the switch still uses it, with the reason. */
  readonly onExit?: (reason: string) => void;
}

export interface UplinkStats {
  /** Frames the switch handed to passt that were dropped: passt's socket is full (as a full NIC queue). */
  dropped: number;
  /** Frames from passt refused by the switch side (runts, giants). */
  malformed: number;
}

export const PASST_DEFAULT_MAC = '52:55:0a:00:02:02';
/** Source of the ARP probe that tells when passt is up; never a guest's MAC. */
const PROBE_MAC = parseMac('52:55:0a:00:02:fe')!;
/** Frames queued towards passt beyond this many bytes are dropped (TCP resends them). */
const MAX_QUEUED_BYTES = 8 << 20;
/** The part of passt's stderr kept for error messages. */
const STDERR_KEEP = 4096;

/** passt's command line for these forwards (ADDR/HOSTPORT:GUESTPORT per option). */
export function passtArgs(forwards: readonly PortForward[], mac: string): string[] {
  const args = ['--foreground', '--fd', '3', '--mac-addr', mac];
  for (const proto of ['tcp', 'udp'] as const) {
    const flag = proto === 'tcp' ? '--tcp-ports' : '--udp-ports';
    const mine = forwards.filter((f) => f.proto === proto);
    // "none" also stops passt from forwarding UDP for every forwarded TCP port.
    if (mine.length === 0) args.push(flag, 'none');
    for (const f of mine) args.push(flag, `${f.hostAddr}/${f.hostPort}:${f.guestPort}`);
  }
  return args;
}

/** An ARP request (who-has 169.254.255.254, from 0.0.0.0): passt answers any such probe. */
function arpProbe(): Uint8Array {
  const f = new Uint8Array(42);
  f.fill(0xff, 0, 6);
  f.set(PROBE_MAC, 6);
  f.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1], 12);
  f.set(PROBE_MAC, 22);
  f.set([169, 254, 255, 254], 38);
  return f;
}

const isProbeAnswer = (f: Uint8Array) =>
  f.length >= 42 && f[12] === 0x08 && f[13] === 0x06 && f[21] === 2 && PROBE_MAC.every((b, i) => f[i] === b);

export class PasstUplink implements SwitchEndpoint {
  readonly mac: Uint8Array;
  readonly stats: UplinkStats = { dropped: 0, malformed: 0 };
  private port: SwitchPort | null = null;
  private link: NetLink | null = null;
  /** Set while the handshake waits for the probe's answer. */
  private onReady: (() => void) | null = null;
  private pending: Uint8Array = new Uint8Array(0);
  private stderr = '';
  private stopping = false;
  private ready = false;
  private readonly exited: Promise<string>;

  private constructor(
    readonly proc: ChildProcess,
    private readonly sock: Socket,
    mac: Uint8Array,
    private readonly onExit?: (reason: string) => void,
  ) {
    this.mac = mac;
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (s: string) => {
      // passt also logs to syslog; where there is none it says so on stderr (noise).
      const lines = s.split('\n').filter((l) => l !== '' && !/^Failed to send \d+ bytes to syslog/.test(l));
      if (lines.length > 0) this.stderr = `${this.stderr}${lines.join('\n')}\n`.slice(-STDERR_KEEP);
    });
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => resolve(signal !== null ? `killed by ${signal}` : `exit status ${code}`));
    });
    sock.on('data', (chunk: Buffer) => this.receive(chunk));
    sock.on('error', () => {}); // the exit below reports it
    void this.exited.then((how) => {
      this.sock.destroy();
      this.unplug();
      if (!this.stopping && this.ready) this.onExit?.(`passt ended (${how}): ${this.lastWords()}`);
    });
  }

  /** passt's last stderr lines, for messages. */
  lastWords(): string {
    return this.stderr.trim().split('\n').slice(-3).join('; ') || 'no message';
  }

  /** The process id (tests check that it ends). */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  /**
   * Starts passt and plugs it into `sw` as its uplink once it answers. Errors are one
   * line: passt missing ('usage'), or passt exiting at start with its own message.
   */
  static async start(sw: VirtualSwitch, opts: PasstOptions = {}): Promise<PasstUplink> {
    const macText = opts.mac ?? PASST_DEFAULT_MAC;
    const mac = parseMac(macText);
    if (mac === null) throw new PvmError('usage', `passt: bad MAC ${macText}`);
    const binary = opts.binary ?? 'passt';
    const proc = spawn(binary, passtArgs(opts.forwards ?? [], formatMac(mac)), {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    });
    const spawned = new Promise<void>((resolve, reject) => {
      proc.once('spawn', resolve);
      proc.once('error', (e: NodeJS.ErrnoException) => {
        reject(
          e.code === 'ENOENT'
            ? new PvmError(
                'usage',
                `user-mode networking needs passt, which is not installed (${binary} not found; Debian: apt install passt)`,
              )
            : new PvmError('io', `passt: ${e.message}`),
        );
      });
    });
    await spawned;
    const up = new PasstUplink(proc, proc.stdio[3] as Socket, mac, opts.onExit);
    try {
      await up.handshake(opts.startTimeoutMs ?? 15_000);
      up.port = sw.attachUplink(up);
    } catch (e) {
      await up.stop();
      throw e;
    }
    return up;
  }

  /** Sends the ARP probe until passt answers it, it exits, or the time is up. */
  private handshake(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const probe = arpProbe();
      const send = () => this.write([probe]);
      const retry = setInterval(send, 250);
      const timer = setTimeout(
        () => done(new PvmError('io', `passt did not start in ${timeoutMs} ms: ${this.lastWords()}`)),
        timeoutMs,
      );
      const done = (err: Error | null) => {
        clearInterval(retry);
        clearTimeout(timer);
        this.onReady = null;
        if (err) reject(err);
        else resolve();
      };
      this.onReady = () => {
        this.ready = true;
        done(null);
      };
      void this.exited.then((how) => {
        if (!this.ready) done(new PvmError('io', `passt failed to start (${how}): ${this.lastWords()}`));
      });
      send();
    });
  }

  connect(link: NetLink | null): void {
    this.link = link;
  }

  /** A frame from the switch for the network behind passt. */
  deliver(frame: Uint8Array, offload: Offload | null = null): void {
    // passt takes plain Ethernet frames: segmentation and checksums are finished here.
    const frames = finishOffloads(frame, offload);
    if (frames === null) {
      this.stats.dropped++;
      return;
    }
    if (this.sock.writableLength > MAX_QUEUED_BYTES) {
      this.stats.dropped += frames.length;
      return;
    }
    this.write(frames);
  }

  private write(frames: readonly Uint8Array[]): void {
    if (this.sock.destroyed) return;
    let n = 0;
    for (const f of frames) n += 4 + f.length;
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    for (const f of frames) {
      out.writeUInt32BE(f.length, at);
      out.set(f, at + 4);
      at += 4 + f.length;
    }
    this.sock.write(out);
  }

  /** Bytes from passt: length-prefixed frames, possibly split across chunks. */
  private receive(chunk: Buffer): void {
    let buf: Uint8Array = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let at = 0;
    while (buf.length - at >= 4) {
      const len = ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
      if (len < ETH_HEADER || len > MAX_FRAME) {
        // The stream is out of step: nothing after this can be trusted.
        this.stats.malformed++;
        this.stderr += `pvm: frame length ${len} from passt\n`;
        this.proc.kill('SIGKILL');
        return;
      }
      if (buf.length - at < 4 + len) break;
      const frame = buf.subarray(at + 4, at + 4 + len);
      at += 4 + len;
      if (!this.ready || isProbeAnswer(frame)) {
        if (isProbeAnswer(frame)) this.onReady?.();
        continue;
      }
      this.link?.transmit(frame);
    }
    buf = buf.subarray(at);
    this.pending = buf.length === 0 ? new Uint8Array(0) : buf.slice();
  }

  private unplug(): void {
    const p = this.port;
    this.port = null;
    p?.detach();
  }

  /** Unplugs from the switch and ends passt (closing the socket ends it; SIGKILL after 2 s). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unplug();
    this.sock.destroy();
    const kill = setTimeout(() => this.proc.kill('SIGKILL'), 2000);
    await this.exited;
    clearTimeout(kill);
  }
}
