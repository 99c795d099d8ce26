/**
 * Keyboard input of `pvm run` on a terminal in raw mode, with QEMU's escape key: Ctrl-A, then
 *   x        quit (every domain of the run is stopped),
 *   n        console input to the next domain (in the order of the config file),
 *   h or ?   these keys, on standard error,
 *   Ctrl-A   a Ctrl-A for the guest.
 * Anything else after Ctrl-A is dropped. Everything else goes to the domain that has the input.
 */

/** Ctrl-A. */
export const ESCAPE = 0x01;

export const ESCAPE_HELP = [
  'Ctrl-A x    quit',
  'Ctrl-A n    send input to the next domain',
  'Ctrl-A h    this help',
  'Ctrl-A Ctrl-A  send Ctrl-A to the guest',
].join('\n');

export interface KeyActions {
  /** Bytes for the domain that has the input. */
  input(bytes: Uint8Array): void;
  quit(): void;
  next(): void;
  help(): void;
}

/** Splits raw terminal input into guest bytes and escape commands; keeps the escape state across chunks. */
export class KeyReader {
  private escaped = false;

  constructor(private readonly actions: KeyActions) {}

  feed(chunk: Uint8Array): void {
    let out: number[] = [];
    const flush = () => {
      if (out.length > 0) this.actions.input(Uint8Array.from(out));
      out = [];
    };
    for (const b of chunk) {
      if (this.escaped) {
        this.escaped = false;
        if (b === ESCAPE) out.push(b);
        else if (b === 0x78 || b === 0x58) {
          flush();
          this.actions.quit();
          return;
        } else if (b === 0x6e || b === 0x4e) {
          flush();
          this.actions.next();
        } else if (b === 0x68 || b === 0x48 || b === 0x3f) {
          flush();
          this.actions.help();
        }
        continue;
      }
      if (b === ESCAPE) this.escaped = true;
      else out.push(b);
    }
    flush();
  }
}
