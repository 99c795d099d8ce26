import { GatedDomainHost } from '../../src/hypervisor/gated-host.js';

/**
 * The browser side of a running domain (in a Web Worker): the same console batching and pause
 * gate as the Node host (src/hypervisor/gated-host.ts), over the browser's clock and event loop.
 * A MessageChannel gives the run loop a macrotask turn (setTimeout(0) would be clamped to 4 ms).
 */
export class BrowserDomainHost extends GatedDomainHost {
  private readonly channel = new MessageChannel();
  private readonly turns: (() => void)[] = [];

  constructor(sink: (bytes: Uint8Array) => void, options: { paused?: boolean } = {}) {
    super(sink, options);
    this.channel.port1.onmessage = () => this.turns.shift()?.();
  }

  protected clock(): number {
    return performance.now();
  }

  protected timer(ms: number, fn: () => void): () => void {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  }

  protected turn(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.turns.push(resolve);
      this.channel.port2.postMessage(0);
    });
  }
}
