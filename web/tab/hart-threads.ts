import type { HartThreadSpawner } from '../../src/hypervisor/threads.js';

/** Why a domain with harts on threads cannot run here, or null when it can. */
export function hartThreadsRefusal(): string | null {
  if (globalThis.crossOriginIsolated !== true || typeof SharedArrayBuffer === 'undefined') {
    return (
      'harts on threads need a cross-origin isolated page (served with Cross-Origin-Opener-Policy: same-origin ' +
      'and Cross-Origin-Embedder-Policy: require-corp, as pvm web serves it): this one is not, so the browser ' +
      'gives it no shared memory'
    );
  }
  if (typeof Worker === 'undefined') return 'harts on threads need a browser that starts workers from a worker';
  // Without it the domain's worker, idle, would not notice a hart on a thread asking it for a hypercall.
  if (typeof (Atomics as { waitAsync?: unknown }).waitAsync !== 'function') {
    return 'harts on threads need Atomics.waitAsync, which this browser lacks';
  }
  return null;
}

/**
 * Harts on threads in the browser (src/hypervisor/threads.ts): one nested dedicated Web Worker
 * per hart, started by the tab's worker, which owns the domain. The worker gets the shared
 * WebAssembly.Memory and the control words in its first message and runs its hart until the
 * owner says exit.
 */
export const browserHartThreads: HartThreadSpawner = {
  spawn(init, onExit) {
    const w = new Worker(new URL('./hart-worker.js', import.meta.url), { type: 'module', name: `hart ${init.hart}` });
    let reported = false;
    const report = (error: string | null) => {
      if (!reported) onExit(error);
      reported = true;
    };
    // (a script that does not load gives an Event without a message)
    w.onerror = (e) => report((e as Partial<ErrorEvent>).message || 'the hart worker did not start');
    w.onmessageerror = () => report('the hart worker could not receive its start data');
    w.onmessage = (ev: MessageEvent<{ error?: string }>) => report(ev.data.error ?? null);
    w.postMessage(init);
    return {
      terminate: () => {
        reported = true;
        w.terminate();
      },
    };
  },
};
