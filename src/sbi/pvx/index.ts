export * from './consts.js';
export { type PvxBackend, PvxExtension } from './extension.js';
export { asU16, asU32, below, ramOffset } from './validate.js';
