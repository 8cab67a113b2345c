/**
 * The files the daemon syncs between nodes: mosquitto's password file, its ACL file and
 * the dynamic-security plugin's JSON, and the operator's switchover preference (content/leader.ts). Each is checked the way mosquitto 2.0.11 reads it, only
 * stricter where mosquitto would start anyway but with a file that is not what its writer meant
 * (it drops bad password lines and bad dynsec entries with at most a log line), and merged so
 * that a sync never removes or changes the service users. Pure: text in, text out.
 */
import { acl } from './content/acl.js';
import type { Format } from './content/common.js';
import { dynsec } from './content/dynsec.js';
import { leader } from './content/leader.js';
import { passwd } from './content/passwd.js';
import { MAX_SYNCED_BYTES } from '../peer/limits.js';

export type Kind = 'passwd' | 'acl' | 'dynsec' | 'leader';
export const KINDS: readonly Kind[] = ['passwd', 'acl', 'dynsec', 'leader'];
export interface ServiceUsers {
  bridge: string;
  daemon: string;
  /** The shadow sessions' user, a service user only while `sessions.enabled`. */
  shadow?: string;
}

const FORMATS: Record<Kind, Format> = { passwd, acl, dynsec, leader };

/** Every problem in `text` for that kind, each as "line N: what is wrong" (dynsec: "path.to.field: what is wrong"); [] when valid. */
export function contentProblems(kind: Kind, text: string): string[] {
  const bytes = Buffer.byteLength(text);
  // Larger ones would not fit the peer channel's bounds (peer/limits.ts); and checked whole, they would stall the daemon.
  if (bytes > MAX_SYNCED_BYTES) return [`is ${bytes} bytes; at most ${MAX_SYNCED_BYTES} (1 MiB) are synced`];
  return FORMATS[kind].problems(text);
}

/** The service users that `text` does not contain (passwd: no line for them; acl: no `user NAME` section; dynsec: no client with that username). */
export function missingServiceUsers(kind: Kind, text: string, users: ServiceUsers): string[] {
  return namesOf(users).filter((user) => !FORMATS[kind].has(text, user));
}

/**
 * `incoming` with the service users' entries replaced by (or, if missing, completed from) those in `local`,
 * the node's current file: passwd: the `NAME:hash` lines of the service users; acl: the block between the lines
 * starting `# BEGIN mosquitto-failover service users` and `# END mosquitto-failover service users` (the whole
 * block including both marker lines; if incoming lacks the block, local's block is put at the top; if local has no
 * block but has `user NAME` sections for the service users, keep those sections instead);
 * dynsec: the client objects whose username is a service user, plus the roles those clients reference.
 * `kept` lists the service users whose entry came from `local` and differed from or was missing in incoming.
 * Pure: text in, text out. If local lacks a service user too, it stays missing (the caller logs it).
 * The result is only as valid as its parts: check it with contentProblems before installing it.
 */
export function keepServiceUsers(kind: Kind, incoming: string, local: string, users: ServiceUsers): { content: string; kept: string[] } {
  return FORMATS[kind].keep(incoming, local, namesOf(users));
}

function namesOf(users: ServiceUsers): string[] {
  return [...new Set([users.bridge, users.daemon, ...(users.shadow === undefined ? [] : [users.shadow])])];
}
