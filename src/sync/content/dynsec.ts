/**
 * The dynamic-security plugin's JSON (roles, clients, groups), checked the way the 2.0.11 plugin
 * loads it, stricter where it would drop an entry without a word. Pure.
 */
import { aclTopicProblem, base64Problem, forbiddenCharacter, type Format, q, userNameProblem } from './common.js';
import { keepDynsec } from './dynsec-keep.js';
import { field, isObject, type JsonObject, namesIn, parseDynsec } from './dynsec-json.js';

type Report = (path: string, message: string) => void;

const ACL_TYPES = ['publishClientSend', 'publishClientReceive', 'subscribeLiteral', 'subscribePattern', 'unsubscribeLiteral', 'unsubscribePattern'];
const DEFAULT_ACCESS = ['publishClientSend', 'publishClientReceive', 'subscribe', 'unsubscribe'];

/** The elements of the list at `key` (absent: none), reporting a value that is no list. */
function listAt(object: JsonObject, key: string, path: string, report: Report): unknown[] {
  const value = field(object, key);
  if (value === undefined) return [];
  if (Array.isArray(value)) return value;
  report(path, `must be a list, not ${q(value)}`);
  return [];
}

/** The objects in the list at `key`, with their paths, reporting (in order) elements that are no objects. */
function* objectsAt(object: JsonObject, key: string, path: string, report: Report): Generator<[JsonObject, string]> {
  for (const [index, item] of listAt(object, key, path, report).entries()) {
    if (isObject(item)) yield [item, `${path}[${index}]`];
    else report(`${path}[${index}]`, `must be an object, not ${q(item)}`);
  }
}

/** A required name (username, rolename, groupname), or undefined after reporting why it is unusable. */
function nameAt(object: JsonObject, key: string, path: string, report: Report): string | undefined {
  const value = field(object, key);
  // A rolename that is not a string crashes the 2.0.11 plugin (strdup of NULL); other names are skipped.
  if (typeof value !== 'string') {
    report(`${path}.${key}`, value === undefined ? 'is missing' : `must be a string, not ${q(value)}`);
    return undefined;
  }
  const problem = userNameProblem(value);
  if (problem) report(`${path}.${key}`, `${q(value)} ${problem}`);
  return problem ? undefined : value;
}

function checkType(object: JsonObject, key: string, type: 'string' | 'boolean', path: string, report: Report): void {
  const value = field(object, key);
  if (value !== undefined && typeof value !== type) report(`${path}.${key}`, `must be a ${type}, not ${q(value)}`);
}

function checkInteger(object: JsonObject, key: string, min: number, path: string, report: Report): void {
  const value = field(object, key);
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 2 ** 31 - 1) {
    report(`${path}.${key}`, `must be a whole number from ${min}, not ${q(value)}`);
  }
}

/** Reports `name` at `path` if an earlier entry already has it. */
function checkUnique(seen: Map<string, string>, name: string | undefined, path: string, report: Report): void {
  if (name === undefined) return;
  const earlier = seen.get(name);
  if (earlier === undefined) seen.set(name, path);
  else report(path, `${q(name)} is already ${earlier}`);
}

function dynsecProblems(text: string): string[] {
  const root = parseDynsec(text);
  if (typeof root === 'string') return [`(json): ${root}`];
  const problems: string[] = [];
  const report: Report = (path, message) => problems.push(`${path}: ${message}`);
  const names = { roles: namesIn(root, 'roles', 'rolename'), clients: namesIn(root, 'clients', 'username'), groups: namesIn(root, 'groups', 'groupname') };
  checkDefaultAccess(root, report);
  checkRoles(root, report);
  checkClients(root, names, report);
  checkGroups(root, names, report);
  const anonymous = field(root, 'anonymousGroup');
  if (anonymous !== undefined && (typeof anonymous !== 'string' || !names.groups.has(anonymous))) {
    report('anonymousGroup', `${q(anonymous)} is not the name of a group`);
  }
  return problems;
}

function checkDefaultAccess(root: JsonObject, report: Report): void {
  const access = field(root, 'defaultACLAccess');
  if (access === undefined) return;
  if (!isObject(access)) return report('defaultACLAccess', `must be an object, not ${q(access)}`);
  // The plugin reads a missing, misspelt or non-boolean entry as false (deny).
  for (const [key, value] of Object.entries(access)) {
    const path = `defaultACLAccess.${key}`;
    if (!DEFAULT_ACCESS.some((name) => name.toLowerCase() === key.toLowerCase())) report(path, `is not one of ${DEFAULT_ACCESS.join(', ')}`);
    else if (typeof value !== 'boolean') report(path, `must be true or false, not ${q(value)}`);
  }
}

function checkRoles(root: JsonObject, report: Report): void {
  const seen = new Map<string, string>();
  for (const [role, path] of objectsAt(root, 'roles', 'roles', report)) {
    checkUnique(seen, nameAt(role, 'rolename', path, report), `${path}.rolename`, report);
    // Not strings, these crash the 2.0.11 plugin too (roles.c strdups them unchecked).
    checkType(role, 'textname', 'string', path, report);
    checkType(role, 'textdescription', 'string', path, report);
    const acls = new Map<string, string>();
    for (const [acl, aclPath] of objectsAt(role, 'acls', `${path}.acls`, report)) {
      const rule = checkAcl(acl, aclPath, report);
      const earlier = rule === undefined ? undefined : acls.get(rule);
      if (earlier !== undefined) report(aclPath, `${rule} is already ${earlier}`);
      else if (rule !== undefined) acls.set(rule, aclPath);
    }
  }
}

/** Checks one role ACL; returns "acltype topic" when both are right, for finding duplicates. */
function checkAcl(acl: JsonObject, path: string, report: Report): string | undefined {
  const type = field(acl, 'acltype');
  const topic = field(acl, 'topic');
  // The plugin silently skips an ACL whose type it does not know or that has no topic.
  const typeOk = typeof type === 'string' && ACL_TYPES.includes(type);
  if (!typeOk) report(`${path}.acltype`, type === undefined ? 'is missing' : `${q(type)} is not one of ${ACL_TYPES.join(', ')}`);
  const topicProblem = typeof topic === 'string' ? aclTopicProblem(topic) : topic === undefined ? 'is missing' : 'must be a string';
  if (topicProblem) report(`${path}.topic`, typeof topic === 'string' ? `${q(topic)} ${topicProblem}` : `${topicProblem}${topic === undefined ? '' : `, not ${q(topic)}`}`);
  checkInteger(acl, 'priority', -(2 ** 31), path, report);
  const allow = field(acl, 'allow');
  if (typeof allow !== 'boolean') report(`${path}.allow`, allow === undefined ? 'is missing (the plugin would deny)' : `must be true or false, not ${q(allow)}`);
  return typeOk && !topicProblem ? `${String(type)} ${q(topic)}` : undefined;
}

interface Names {
  roles: Set<string>;
  clients: Set<string>;
  groups: Set<string>;
}

function checkClients(root: JsonObject, names: Names, report: Report): void {
  const seen = new Map<string, string>();
  for (const [client, path] of objectsAt(root, 'clients', 'clients', report)) {
    checkUnique(seen, nameAt(client, 'username', path, report), `${path}.username`, report);
    checkType(client, 'clientid', 'string', path, report);
    const clientid = field(client, 'clientid');
    const character = typeof clientid === 'string' ? forbiddenCharacter(clientid) : undefined;
    if (character) report(`${path}.clientid`, `${q(clientid)} ${character}`);
    checkType(client, 'textname', 'string', path, report);
    checkType(client, 'textdescription', 'string', path, report);
    checkType(client, 'disabled', 'boolean', path, report);
    checkPassword(client, path, report);
    checkReferences(client, 'roles', 'rolename', names.roles, path, report);
    // 2.0.11 keeps group members in groups[].clients and ignores this list; a later version may not.
    checkReferences(client, 'groups', 'groupname', names.groups, path, report);
  }
}

/** The plugin takes a password only when salt, hash and iterations are all right; otherwise it drops the client or its password without a word. */
function checkPassword(client: JsonObject, path: string, report: Report): void {
  const parts = ['password', 'salt', 'iterations'].map((key) => field(client, key));
  if (parts.every((part) => part === undefined)) return;
  const [password, salt] = parts;
  for (const [key, value, bytes] of [['password', password, 64], ['salt', salt, 12]] as const) {
    const problem = typeof value === 'string' ? base64Problem(value, bytes) : value === undefined ? 'is missing' : 'must be a string';
    if (problem) report(`${path}.${key}`, problem);
  }
  if (parts[2] === undefined) report(`${path}.iterations`, 'is missing');
  checkInteger(client, 'iterations', 1, path, report);
}

/** A list of `{ rolename|groupname|username, priority? }` naming entries that must exist. */
function checkReferences(object: JsonObject, list: string, key: string, known: ReadonlySet<string>, path: string, report: Report): void {
  const seen = new Map<string, string>();
  for (const [entry, entryPath] of objectsAt(object, list, `${path}.${list}`, report)) {
    const name = nameAt(entry, key, entryPath, report);
    // The plugin drops a reference to something that does not exist, silently.
    if (name !== undefined && !known.has(name)) report(`${entryPath}.${key}`, `${q(name)} does not exist`);
    else checkUnique(seen, name, `${entryPath}.${key}`, report);
    checkInteger(entry, 'priority', -(2 ** 31), entryPath, report);
  }
}

function checkGroups(root: JsonObject, names: Names, report: Report): void {
  const seen = new Map<string, string>();
  for (const [group, path] of objectsAt(root, 'groups', 'groups', report)) {
    checkUnique(seen, nameAt(group, 'groupname', path, report), `${path}.groupname`, report);
    checkType(group, 'textname', 'string', path, report);
    checkType(group, 'textdescription', 'string', path, report);
    checkReferences(group, 'roles', 'rolename', names.roles, path, report);
    checkReferences(group, 'clients', 'username', names.clients, path, report);
  }
}

function dynsecHas(text: string, user: string): boolean {
  const root = parseDynsec(text);
  return typeof root !== 'string' && namesIn(root, 'clients', 'username').has(user);
}

export const dynsec: Format = { problems: dynsecProblems, has: dynsecHas, keep: keepDynsec };
