/** The entry of a hart's worker thread (src/host/hart-threads.ts): it runs until the owner says exit. */
import { workerData } from 'node:worker_threads';
import { type RemoteHartInit, runRemoteHart } from '../hypervisor/threads.js';

runRemoteHart(workerData as RemoteHartInit);
