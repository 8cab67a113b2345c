/**
 * Running the real programs: what a test needs (root, binaries), and rendering a node with its
 * files placed in a scratch directory instead of /etc and /var (the template is the same).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadedConfig } from '../../src/config/load.js';
import type { NodeConfig } from '../../src/config/schema.js';
import { labUnavailable } from '../../lab/requirements.js';
import { placeNode as placeInto, writePasswordFile, type PlacedNode } from '../../lab/place.js';
import { scratchDir } from './scratch.js';

export type { PlacedNode };

/** Why the real programs cannot run here, or undefined when they can. Under CI a reason is fatal. */
export function missingRequirements(programs?: readonly string[]): string | undefined {
  const reason = labUnavailable(programs);
  if (reason && process.env['CI']) throw new Error(`CI must run the real-program tests, but this machine ${reason}`);
  return reason;
}

/** Renders `node` into a new scratch directory (see placeNode in the lab). */
export function placeNode(loaded: LoadedConfig, node: NodeConfig, label: string): PlacedNode {
  return placeInto(loaded, node, scratchDir(label));
}

/** The service users in the password file, made by the real mosquitto_passwd. */
export function writeServiceUsers(placed: PlacedNode): void {
  writePasswordFile(placed);
}

/**
 * A stop for a program a test started through execa: SIGTERM, SIGKILL after 5 s, then wait for
 * it. Also tells whether it has exited on its own.
 */
export function stopperOf(child: Promise<unknown> & { kill: (signal: NodeJS.Signals) => boolean }): { stop: () => Promise<void>; exited: () => boolean } {
  let exited = false;
  void child.then(() => (exited = true));
  const stop = async (): Promise<void> => {
    if (!exited) child.kill('SIGTERM');
    await Promise.race([child, sleep(5_000)]);
    if (!exited) child.kill('SIGKILL');
    await child;
  };
  return { stop, exited: () => exited };
}
