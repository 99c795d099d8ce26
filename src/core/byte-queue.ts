/**
 * A first-in first-out queue of bytes holding at most `max`, whose buffer grows with what it
 * holds: a console input queue that is never typed into (an idle domain's) holds no buffer,
 * and one that fills grows by doubling up to `max` (docs/density.md).
 */
const EMPTY = new Uint8Array(0);
/** First buffer size once a byte arrives. */
const FIRST = 256;

export class ByteQueue {
  private buf: Uint8Array = EMPTY;
  private head = 0;
  private count = 0;

  constructor(readonly max: number) {}

  /** Bytes queued. */
  get length(): number {
    return this.count;
  }

  /** Bytes of buffer held (0 until the first push). */
  get capacity(): number {
    return this.buf.length;
  }

  /** Queue as many of `bytes` as fit under `max`, in order; returns how many. */
  push(bytes: ArrayLike<number>): number {
    const n = Math.min(bytes.length, this.max - this.count);
    if (n <= 0) return 0;
    this.reserve(this.count + n);
    const cap = this.buf.length;
    for (let i = 0; i < n; i++) this.buf[(this.head + this.count + i) % cap] = bytes[i]!;
    this.count += n;
    return n;
  }

  /** The oldest byte, removed; -1 when empty. */
  shift(): number {
    if (this.count === 0) return -1;
    const b = this.buf[this.head]!;
    this.head = (this.head + 1) % this.buf.length;
    this.count--;
    return b;
  }

  /** A copy of the oldest `n` bytes (at most `length`), removed when `consume`. */
  peek(n: number, consume = false): Uint8Array {
    const k = Math.max(0, Math.min(n, this.count));
    const out = new Uint8Array(k);
    const first = Math.min(k, this.buf.length - this.head);
    out.set(this.buf.subarray(this.head, this.head + first));
    out.set(this.buf.subarray(0, k - first), first);
    if (consume) {
      this.head = k === this.count ? 0 : (this.head + k) % this.buf.length;
      this.count -= k;
    }
    return out;
  }

  /** Drop every byte (the buffer is kept). */
  clear(): void {
    this.head = 0;
    this.count = 0;
  }

  /** A buffer of at least `need` bytes (at most `max`), the queued bytes moved to its start. */
  private reserve(need: number): void {
    if (need <= this.buf.length) return;
    let cap = Math.max(FIRST, this.buf.length);
    while (cap < need) cap *= 2;
    const grown = new Uint8Array(Math.min(cap, this.max));
    grown.set(this.peek(this.count));
    this.buf = grown;
    this.head = 0;
  }
}
