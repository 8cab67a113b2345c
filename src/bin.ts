#!/usr/bin/env node
import { localIPv4Addresses, main } from './cli.js';
import { readPassword } from './prompt.js';

process.exitCode = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  localAddresses: localIPv4Addresses,
  isTTY: process.stdout.isTTY,
  readPassword: () => readPassword({ input: process.stdin, output: process.stderr }),
  stopSignal: () =>
    new Promise((resolve) => {
      // `on`, not `once`: execa's exit handler (signal-exit) re-raises a signal that no other
      // listener is left to handle, which would end the graceful stop half-way.
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => resolve(signal));
    }),
});
