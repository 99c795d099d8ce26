/**
 * The virtual switches of a daemon as the control plane sees them, and their links to the
 * switches of the same name on other daemons (docs/networking.md, "Switches across daemons").
 * The host implements `SwitchNetwork` (src/host/switch-links.ts); the control plane only
 * forwards the switch commands to it.
 */

/** Switch names: as in a NIC's `switch` field. */
export const SWITCH_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** One link of a switch to a peer daemon. */
export interface SwitchLinkInfo {
  /** `out`: this daemon dialed it (`pvm switch join`) and redials it; `in`: the peer dialed this daemon. */
  readonly direction: 'out' | 'in';
  /** The peer: the URL joined (out), or the address it came from (in). */
  readonly peer: string;
  /** `up`: frames flow; `connecting`: (re)dialing after `error`. An `in` link is listed only while up. */
  readonly state: 'up' | 'connecting';
  /** Why the last connection ended or failed (absent while the first one holds). */
  readonly error?: string;
  /** Connections made so far (1 on the first; more after reconnections). */
  readonly connects: number;
  /** The peer port's traffic (tx: from the peer into this switch; rx: out to the peer). */
  readonly txFrames: number;
  readonly txBytes: number;
  readonly rxFrames: number;
  readonly rxBytes: number;
  /** Frames for the peer dropped while its backlog was full; messages from it refused as malformed. */
  readonly dropped: number;
  readonly malformed: number;
}

export interface SwitchInfo {
  readonly name: string;
  /** Ports on the switch: NICs, the passt uplink, peer links. */
  readonly ports: number;
  readonly links: readonly SwitchLinkInfo[];
}

/** What the switch commands run against. */
export interface SwitchNetwork {
  /** Every switch that exists now (a NIC or a link made it), by name. */
  list(): SwitchInfo[];
  /**
   * Joins switch `name` (made when missing) to the switch of the same name on the daemon at
   * `url`, authenticated with `token`. Resolves once the first connection is up; refuses when
   * it cannot be made, keeping no link (the switch stays, as switches do once named). Later
   * losses are redialed until `leave`. With `wait: false` it resolves at once and the link is
   * dialed until it is up, however the first attempts fail (`pvm daemon --join`: the peers of
   * a cluster start in any order).
   */
  join(name: string, url: string, token: string, options?: { wait?: boolean }): Promise<SwitchInfo>;
  /** Ends the link `join` made to `url`. */
  leave(name: string, url: string): Promise<SwitchInfo>;
  /** Ends every link (daemon shutdown). */
  close(): Promise<void>;
}
