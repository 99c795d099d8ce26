#!/usr/bin/env node
import { main } from '../dist/src/cli/main.js';

// The reader of our output went away (`pvm run ... | head`): stop quietly, as a
// command killed by SIGPIPE would, instead of dying on an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(141);
    throw err;
  });
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`pvm: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 70;
  },
);
