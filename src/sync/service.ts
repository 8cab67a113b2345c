/**
 * Does a received file carry working entries for the service users (bridge, daemon, and the shadow
 * sessions' user while sessions are on)? The daemon
 * knows their passwords (the env file), so it checks the hashes themselves: an entry that verifies
 * is as good as this node's own, and taking it keeps the file byte-identical on every node. One
 * that is missing or does not verify is replaced by this node's (content.ts keepServiceUsers), so a
 * sync can neither remove nor break them. Hashes: mosquitto_passwd's `$7$iterations$salt$hash`
 * and the dynamic-security plugin's client `password`/`salt`/`iterations` are both PBKDF2-SHA512
 * with a 64-byte key, salt and key in base64 (checked against files made by the real tools).
 */
import { pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { keepServiceUsers, type Kind, type ServiceUsers } from './content.js';
import { linesOf } from './content/common.js';
import { field, isObject, parseDynsec } from './content/dynsec-json.js';

export type ServicePasswords = { [user in keyof ServiceUsers]: string };

// Iterations beyond this are not worth a daemon's CPU to check; such an entry is replaced.
const MAX_ITERATIONS = 1_000_000;

function pbkdf2Matches(password: string, salt: string, iterations: number, hash: string): boolean {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) return false;
  const expected = Buffer.from(hash, 'base64');
  if (expected.length !== 64) return false;
  return timingSafeEqual(pbkdf2Sync(password, Buffer.from(salt, 'base64'), iterations, 64, 'sha512'), expected);
}

function passwdEntryVerifies(text: string, user: string, password: string): boolean {
  const lines = linesOf(text).filter((line) => line.startsWith(`${user}:`));
  if (lines.length !== 1) return false;
  const match = /^\$7\$(\d+)\$([^$]+)\$([^$]+)$/.exec(lines[0]!.slice(user.length + 1).trim());
  const [, iterations, salt, hash] = match ?? [];
  return iterations !== undefined && salt !== undefined && hash !== undefined && pbkdf2Matches(password, salt, Number(iterations), hash);
}

/** Read as the plugin reads it (keys without regard to case): the one client named `user`. */
function dynsecEntryVerifies(text: string, user: string, password: string): boolean {
  const root = parseDynsec(text);
  const clients = typeof root === 'string' ? undefined : field(root, 'clients');
  if (!Array.isArray(clients)) return false;
  const entries = clients.filter(isObject).filter((client) => field(client, 'username') === user);
  if (entries.length !== 1) return false;
  const [salt, iterations, hash] = ['salt', 'iterations', 'password'].map((key) => field(entries[0]!, key));
  return typeof salt === 'string' && typeof iterations === 'number' && typeof hash === 'string' && pbkdf2Matches(password, salt, iterations, hash);
}

/**
 * True when `text` has an entry for each service user that verifies against its password. The
 * ACL has no secrets: its service block is rendered the same on every node, so it is always taken
 * from this node (false here).
 */
export function serviceEntriesVerify(kind: Kind, text: string, users: ServiceUsers, passwords: ServicePasswords): boolean {
  if (kind === 'acl') return false;
  // The preference holds no users: nothing to repair.
  if (kind === 'leader') return true;
  const verifies = kind === 'passwd' ? passwdEntryVerifies : dynsecEntryVerifies;
  const shadowVerifies = users.shadow === undefined || (passwords.shadow !== undefined && verifies(text, users.shadow, passwords.shadow));
  return verifies(text, users.bridge, passwords.bridge) && verifies(text, users.daemon, passwords.daemon) && shadowVerifies;
}

/**
 * The service-user repair, for a local edit and a peer's file alike: `text` with the service
 * users' entries taken from `local` (this node's text) unless its own verify. `restored` names the
 * users whose entry came from `local`. Without a local text there is nothing to take them from.
 */
export function repairServiceUsers(
  kind: Kind,
  text: string,
  local: string | undefined,
  users: ServiceUsers,
  passwords: ServicePasswords,
): { text: string; restored: string[] } {
  if (local === undefined || serviceEntriesVerify(kind, text, users, passwords)) return { text, restored: [] };
  const { content, kept } = keepServiceUsers(kind, text, local, users);
  return { text: content, restored: kept };
}
