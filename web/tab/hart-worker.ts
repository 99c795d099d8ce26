/**
 * The entry of a hart's Web Worker (hart-threads.ts): its first message is the hart's start
 * data; it runs the hart until the owner says exit, then says how it ended.
 */
import { type RemoteHartInit, runRemoteHart } from '../../src/hypervisor/threads.js';

const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<RemoteHartInit>) => void) | null;
  postMessage(m: unknown): void;
  close(): void;
};

scope.onmessage = (ev) => {
  scope.onmessage = null;
  try {
    runRemoteHart(ev.data);
    scope.postMessage({});
  } catch (e) {
    scope.postMessage({ error: e instanceof Error ? e.message : String(e) });
  }
  scope.close();
};
