/** Why `Hart.run` returned. Plain numeric constants (no const enum), stable values. */
export const Exit = {
  /** The instruction budget is used up. */
  Budget: 0,
  /** The hart executed WFI and no interrupt is pending: the caller may idle until one can be. */
  Wfi: 1,
  /** PV mode (virtualM): a trap or interrupt destined to M-mode; see Hart.exitCause/exitIsInterrupt/exitTval. */
  MachineTrap: 2,
  /** requestStop() was called. */
  Stop: 3,
  /** PAUSE retired on a hart with HartOptions.pauseExits (a spin-wait hint). */
  Pause: 4,
} as const;
export type Exit = (typeof Exit)[keyof typeof Exit];
