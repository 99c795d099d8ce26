import { Worker } from 'node:worker_threads';
import type { HartThreadSpawner } from '../hypervisor/threads.js';

/** Harts on threads in Node.js: one worker_threads Worker per hart (src/hypervisor/threads.ts). */
export const nodeHartThreads: HartThreadSpawner = {
  spawn(init, onExit) {
    const w = new Worker(new URL('./hart-worker.js', import.meta.url), { workerData: init });
    let reported = false;
    const report = (error: string | null) => {
      if (!reported) onExit(error);
      reported = true;
    };
    w.on('error', (e) => report(e.message));
    w.on('exit', (code) => report(code === 0 ? null : `exit code ${code}`));
    // the owner's run loop keeps the process alive; a worker alone must not
    w.unref();
    return { terminate: () => void w.terminate() };
  },
};
