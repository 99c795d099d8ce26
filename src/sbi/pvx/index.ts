export * from './calls.js';
export * from './consts.js';
export { PvxExtension } from './extension.js';
export { asU16, asU32, below, ramOffset } from './validate.js';
