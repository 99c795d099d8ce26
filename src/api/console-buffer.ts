import type { ConsoleListener, DomainConsole } from './domain.js';
import { ApiError } from './errors.js';

/** Recent console output kept for clients that attach later. */
export const CONSOLE_HISTORY_BYTES = 64 * 1024;

/**
 * A domain console as the control plane shares it: output goes to every
 * subscriber and into a bounded history ring; input is handed to `onInput`
 * (the domain's UART or SBI console).
 */
export class ConsoleBuffer implements DomainConsole {
  private ring = new Uint8Array(0);
  private readonly listeners = new Set<ConsoleListener>();
  private closed = false;

  constructor(private readonly onInput: (data: Uint8Array) => void) {}

  /** Output from the guest. */
  emit(data: Uint8Array): void {
    if (data.length === 0) return;
    const joined = new Uint8Array(this.ring.length + data.length);
    joined.set(this.ring);
    joined.set(data, this.ring.length);
    this.ring = joined.length > CONSOLE_HISTORY_BYTES ? joined.slice(joined.length - CONSOLE_HISTORY_BYTES) : joined;
    // A listener that throws (a client's socket gone wrong) is dropped; the guest and the other
    // listeners go on.
    for (const l of this.listeners) {
      try {
        l(data);
      } catch {
        this.listeners.delete(l);
      }
    }
  }

  history(): Uint8Array {
    return this.ring.slice();
  }

  subscribe(listener: ConsoleListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Input for the guest; refused (bad-state) once the domain is gone. */
  write(data: Uint8Array): void {
    if (this.closed) throw new ApiError('bad-state', 'the domain of this console is gone');
    this.onInput(data);
  }

  /** Drops every subscriber and refuses input from now on (the domain is gone). */
  close(): void {
    this.closed = true;
    this.listeners.clear();
  }
}
