/** The service users' dynamic-security clients, and the roles they reference, kept from this node's file in a synced one. Pure. */
import { field, isObject, type JsonObject, keyOf, parseDynsec } from './dynsec-json.js';

/** Key order does not matter to the plugin, so it does not make two entries differ. */
function sameJson(a: unknown, b: unknown): boolean {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical);
    if (!isObject(value)) return value;
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical(value[key])]));
  };
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** Puts `entry` in place of the entries named `name` in the list at `list` (or at its end); false when it was there already, alone. */
function replaceNamed(root: JsonObject, list: string, key: string, name: string, entry: JsonObject): boolean {
  const listKey = keyOf(root, list) ?? list;
  const items = Array.isArray(root[listKey]) ? (root[listKey] as unknown[]) : [];
  const named = (item: unknown): boolean => isObject(item) && field(item, key) === name;
  const matches = items.filter(named);
  if (matches.length === 1 && sameJson(matches[0], entry)) return false;
  const at = items.findIndex(named);
  const rest = items.filter((item) => !named(item));
  rest.splice(at < 0 ? rest.length : at, 0, structuredClone(entry));
  root[listKey] = rest;
  return true;
}

export function keepDynsec(incoming: string, local: string, users: readonly string[]): { content: string; kept: string[] } {
  const theirs = parseDynsec(incoming);
  const mine = parseDynsec(local);
  if (typeof theirs === 'string' || typeof mine === 'string') return { content: incoming, kept: [] };
  const kept = users.filter((user) => keepClient(theirs, mine, user));
  // Tab-indented like the plugin's own cJSON_Print.
  return { content: kept.length > 0 ? `${JSON.stringify(theirs, null, '\t')}\n` : incoming, kept };
}

/** Copies `user`'s client and the roles it references from `mine` into `theirs`; true if that changed anything. */
function keepClient(theirs: JsonObject, mine: JsonObject, user: string): boolean {
  const clients = field(mine, 'clients');
  const client = (Array.isArray(clients) ? clients : []).find((item): item is JsonObject => isObject(item) && field(item, 'username') === user);
  if (!client) return false;
  const changed = [replaceNamed(theirs, 'clients', 'username', user, client)];
  for (const [name, role] of referencedRoles(mine, client)) changed.push(replaceNamed(theirs, 'roles', 'rolename', name, role));
  return changed.includes(true);
}

function referencedRoles(root: JsonObject, client: JsonObject): Map<string, JsonObject> {
  const roles = field(root, 'roles');
  const byName = new Map<string, JsonObject>();
  for (const role of (Array.isArray(roles) ? roles : []).filter(isObject)) {
    const name = field(role, 'rolename');
    if (typeof name === 'string' && !byName.has(name)) byName.set(name, role);
  }
  const references = field(client, 'roles');
  const referenced = new Map<string, JsonObject>();
  for (const reference of (Array.isArray(references) ? references : []).filter(isObject)) {
    const name = field(reference, 'rolename');
    const role = typeof name === 'string' ? byName.get(name) : undefined;
    if (role && typeof name === 'string') referenced.set(name, role);
  }
  return referenced;
}
