export { attachPvx, type PvxAttachOptions } from './attach.js';
export type { PvxEnv } from './env.js';
export { GrantWindow, type WindowSlot } from './grant-window.js';
export { PvxHost } from './host.js';
export { PvxDomain, type PvxState, pvxStateDomid } from './pvx-domain.js';
