/**
 * The broker files the daemon syncs between nodes: mosquitto's password file, its ACL file and
 * the dynamic-security plugin's JSON. Each is checked the way mosquitto 2.0.11 reads it, only
 * stricter where mosquitto would start anyway but with a file that is not what its writer meant
 * (it drops bad password lines and bad dynsec entries with at most a log line), and merged so
 * that a sync never removes or changes the service users. Pure: text in, text out.
 */
import { Buffer } from 'node:buffer';

export type Kind = 'passwd' | 'acl' | 'dynsec';
export const KINDS: readonly Kind[] = ['passwd', 'acl', 'dynsec'];
export interface ServiceUsers {
  bridge: string;
  daemon: string;
}

interface Format {
  problems(text: string): string[];
  has(text: string, user: string): boolean;
  keep(incoming: string, local: string, users: readonly string[]): { content: string; kept: string[] };
}

/** Every problem in `text` for that kind, each as "line N: what is wrong" (dynsec: "path.to.field: what is wrong"); [] when valid. */
export function contentProblems(kind: Kind, text: string): string[] {
  return FORMATS[kind].problems(text);
}

/** The service users that `text` does not contain (passwd: no line for them; acl: no `user NAME` section; dynsec: no client with that username). */
export function missingServiceUsers(kind: Kind, text: string, users: ServiceUsers): string[] {
  return namesOf(users).filter((user) => !FORMATS[kind].has(text, user));
}

/**
 * `incoming` with the service users' entries replaced by (or, if missing, completed from) those in `local`,
 * the node's current file: passwd: the `NAME:hash` lines of the two users; acl: the block between the lines
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
  return [...new Set([users.bridge, users.daemon])];
}

// ---------------------------------------------------------------- shared by all three formats

/** The lines of `text` without their ends (\n or \r\n); a final line end does not start another line. */
function linesOf(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** `lines` as a file, or `original` itself when nothing changed (a sync then rewrites nothing). */
function fileOf(original: string, lines: readonly string[]): string {
  const before = linesOf(original);
  if (before.length === lines.length && before.every((line, index) => line === lines[index])) return original;
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function isBlank(line: string): boolean {
  return /^[ \t]*$/.test(line);
}

const q = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

// Characters an MQTT string may not hold (MQTT 5 §1.5.4), which mosquitto_validate_utf8 refuses
// in a CONNECT: a user name or topic holding one can never be used by a client.
const NOT_IN_MQTT = /[\p{Cc}\p{Cs}\p{Noncharacter_Code_Point}]/u;

/** "contains U+0009 (tab)" for the first character MQTT forbids in `text`, or undefined. */
function forbiddenCharacter(text: string): string | undefined {
  const found = NOT_IN_MQTT.exec(text)?.[0];
  if (found === undefined) return undefined;
  const code = `U+${(found.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  return `contains ${code}${found === '\t' ? ' (tab)' : ''}, which MQTT does not allow`;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Why `text` is not standard base64 of exactly `bytes` bytes (mosquitto refuses other salt and hash sizes). */
function base64Problem(text: string, bytes: number): string | undefined {
  if (!BASE64.test(text)) return 'is not base64';
  const length = Buffer.from(text, 'base64').length;
  return length === bytes ? undefined : `is base64 of ${length} bytes, not ${bytes}`;
}

// mosquitto's sub-topic check (lib/util_topic.c) with the broker's TOPIC_HIERARCHY_LIMIT. Not
// topicPatternProblem from the config schema: ACL topics may hold spaces and start with $.
const TOPIC_BYTES = 65_535;
const TOPIC_LEVELS = 200;

/** Why mosquitto 2.0.11 refuses `topic` as an ACL topic, or undefined. */
function aclTopicProblem(topic: string): string | undefined {
  if (topic.length === 0) return 'is empty';
  const character = forbiddenCharacter(topic);
  if (character) return character;
  const levels = topic.split('/');
  for (const [index, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || index !== levels.length - 1)) {
      return 'has # in the wrong place: # must be a whole level and the last one (e.g. home/#)';
    }
    if (level.includes('+') && level !== '+') return 'has + in the wrong place: + must be a whole level (e.g. home/+/state)';
  }
  if (Buffer.byteLength(topic) > TOPIC_BYTES) return `is longer than ${TOPIC_BYTES} bytes`;
  if (levels.length - 1 > TOPIC_LEVELS) return `has more than ${TOPIC_LEVELS} "/", mosquitto's limit`;
  return undefined;
}

/** Why `name` cannot be an MQTT user name, or undefined. */
function userNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name) > 65_535) return 'is longer than 65535 bytes';
  return forbiddenCharacter(name);
}

// ---------------------------------------------------------------- passwd

// mosquitto 2.0.11 pwfile__parse: a line starting with # is a comment and a line without ":" is
// skipped. Its hashes: $6$salt$sha512 (1.x) and $7$iterations$salt$pbkdf2-sha512 (2.0), a
// 12-byte salt and a 64-byte hash, each base64 (unpwd__decode_passwords).
const SHA512 = /^\$6\$([^$]*)\$([^$]*)$/;
const PBKDF2 = /^\$7\$([^$]*)\$([^$]*)\$([^$]*)$/;

/** The user a password-file line is for, or undefined for a comment or a line without ":". */
function passwdUser(line: string): string | undefined {
  if (line.startsWith('#')) return undefined;
  const colon = line.indexOf(':');
  return colon < 0 ? undefined : line.slice(0, colon);
}

function passwdProblems(text: string): string[] {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  linesOf(text).forEach((line, index) => {
    if (isBlank(line) || line.startsWith('#')) return;
    const problem = passwdLineProblem(line, seen);
    if (problem) problems.push(`line ${index + 1}: ${problem}`);
    const user = passwdUser(line);
    if (user !== undefined && !seen.has(user)) seen.set(user, index + 1);
  });
  return problems;
}

function passwdLineProblem(line: string, seen: ReadonlyMap<string, number>): string | undefined {
  const user = passwdUser(line);
  // mosquitto skips such a line without a word; it is most likely a broken entry.
  if (user === undefined) return `${q(line)} is not "user:hash"`;
  const hash = line.slice(user.length + 1);
  if (user.trim() !== user) return `user name ${q(user)} has white space around it (mosquitto would trim it)`;
  const nameProblem = userNameProblem(user);
  if (nameProblem) return `user name ${q(user)} ${nameProblem}`;
  const earlier = seen.get(user);
  if (earlier !== undefined) return `user ${q(user)} is already on line ${earlier}`;
  // mosquitto would read up to the second ":" and ignore the rest.
  const problem = hash.includes(':') ? 'is followed by another ":"' : hashProblem(hash);
  return problem ? `the password hash of ${q(user)} ${problem}` : undefined;
}

/** Why `hash` is not a mosquitto 2.0 password hash. Never quotes it: it may be a plain-text password. */
function hashProblem(hash: string): string | undefined {
  const sha512 = SHA512.exec(hash);
  if (sha512) return saltAndHashProblem(sha512[1] ?? '', sha512[2] ?? '');
  const pbkdf2 = PBKDF2.exec(hash);
  if (pbkdf2) return iterationsProblem(pbkdf2[1] ?? '') ?? saltAndHashProblem(pbkdf2[2] ?? '', pbkdf2[3] ?? '');
  if (hash.startsWith('$6$')) return 'is not $6$salt$hash';
  if (hash.startsWith('$7$')) return 'is not $7$iterations$salt$hash';
  return 'is not a mosquitto hash ($6$… or $7$…): plain-text passwords are never synced';
}

function iterationsProblem(iterations: string): string | undefined {
  if (/^[1-9]\d{0,9}$/.test(iterations) && Number(iterations) <= 2 ** 31 - 1) return undefined;
  return `has iterations ${q(iterations)}, not a whole number from 1`;
}

function saltAndHashProblem(salt: string, hash: string): string | undefined {
  const saltProblem = base64Problem(salt, 12);
  if (saltProblem) return `has a salt that ${saltProblem}`;
  const hashProblem = base64Problem(hash, 64);
  return hashProblem ? `has a hash that ${hashProblem}` : undefined;
}

function keepPasswd(incoming: string, local: string, users: readonly string[]): { content: string; kept: string[] } {
  const mine = linesOf(local);
  let lines = linesOf(incoming);
  const kept: string[] = [];
  for (const user of users) {
    const entry = mine.find((line) => passwdUser(line) === user);
    if (entry === undefined) continue;
    const theirs = lines.filter((line) => passwdUser(line) === user);
    if (theirs.length === 1 && theirs[0] === entry) continue;
    const at = lines.findIndex((line) => passwdUser(line) === user);
    lines = lines.filter((line) => passwdUser(line) !== user);
    lines.splice(at < 0 ? lines.length : at, 0, entry);
    kept.push(user);
  }
  return { content: fileOf(incoming, lines), kept };
}

// ---------------------------------------------------------------- acl

const ACCESS = ['read', 'write', 'readwrite', 'deny'];
const BEGIN = '# BEGIN mosquitto-failover service users';
const END = '# END mosquitto-failover service users';

type AclLine =
  | { kind: 'skip' }
  | { kind: 'user'; name: string }
  | { kind: 'topic' | 'pattern'; access: string; topic: string }
  | { kind: 'bad'; problem: string };

/**
 * One ACL line as mosquitto 2.0.11's aclfile__parse reads it: trailing white space stripped, a
 * comment only with # in the first column, words split at spaces (not tabs), the access word
 * optional, the topic the rest of the line (so it may hold spaces, after an access word).
 */
function parseAclLine(raw: string): AclLine {
  const line = raw.replace(/[\t\n\v\f\r ]+$/, '');
  if (line === '' || line.startsWith('#')) return { kind: 'skip' };
  const character = forbiddenCharacter(line);
  if (character) return { kind: 'bad', problem: `${character}${line.includes('\t') ? '; mosquitto separates words with spaces only' : ''}` };
  const [, keyword = '', rest = ''] = /^ *(\S+) *(.*)$/.exec(line) ?? [];
  if (keyword === 'user') return rest === '' ? { kind: 'bad', problem: 'user has no name' } : { kind: 'user', name: rest };
  if (keyword === 'topic' || keyword === 'pattern') return parseAclRule(keyword, rest);
  const hint = keyword.startsWith('#') ? ' (a comment needs # in the first column)' : '';
  return { kind: 'bad', problem: `unknown keyword ${q(keyword)}: mosquitto knows user, topic and pattern${hint}` };
}

function parseAclRule(keyword: 'topic' | 'pattern', rest: string): AclLine {
  if (rest === '') return { kind: 'bad', problem: `${keyword} has no topic` };
  const [, first = '', topic] = /^(\S+)(?: +(.*))?$/.exec(rest) ?? [];
  if (topic === undefined && ACCESS.includes(first)) {
    // mosquitto would take the access word for the topic, with readwrite access to it.
    return { kind: 'bad', problem: `${keyword} ${first} has no topic (mosquitto would read ${q(first)} as the topic)` };
  }
  if (topic !== undefined && !ACCESS.includes(first)) {
    return { kind: 'bad', problem: `access ${q(first)} is not read, write, readwrite or deny (a topic with spaces needs one first)` };
  }
  const problem = aclTopicProblem(topic ?? first);
  if (problem) return { kind: 'bad', problem: `topic ${q(topic ?? first)} ${problem}` };
  return topic === undefined ? { kind: keyword, access: 'readwrite', topic: first } : { kind: keyword, access: first, topic };
}

function aclProblems(text: string): string[] {
  return linesOf(text).flatMap((line, index) => {
    const parsed = parseAclLine(line);
    return parsed.kind === 'bad' ? [`line ${index + 1}: ${parsed.problem}`] : [];
  });
}

function aclUser(line: string): string | undefined {
  const parsed = parseAclLine(line);
  return parsed.kind === 'user' ? parsed.name : undefined;
}

interface Range {
  start: number;
  end: number; // exclusive
}

function blockOf(lines: readonly string[]): Range | undefined {
  const start = lines.findIndex((line) => line.startsWith(BEGIN));
  const end = lines.findIndex((line, index) => index > start && line.startsWith(END));
  return start < 0 || end < 0 ? undefined : { start, end: end + 1 };
}

function isFiller(line: string): boolean {
  const parsed = parseAclLine(line);
  return parsed.kind === 'skip';
}

/**
 * The `user NAME` sections of `name` within `within`: from the user line to the next user line or
 * block marker, less the comments and blank lines that end it (they introduce what follows).
 */
function sectionsOf(lines: readonly string[], name: string, within: Range = { start: 0, end: lines.length }): Range[] {
  const ranges: Range[] = [];
  for (let start = within.start; start < within.end; start++) {
    if (aclUser(lines[start] ?? '') !== name) continue;
    let end = start + 1;
    while (end < within.end && !isBoundary(lines[end] ?? '')) end++;
    while (end > start + 1 && isFiller(lines[end - 1] ?? '')) end--;
    ranges.push({ start, end });
    start = end - 1;
  }
  return ranges;
}

function isBoundary(line: string): boolean {
  return line.startsWith(BEGIN) || line.startsWith(END) || aclUser(line) !== undefined;
}

/** What sections grant, as mosquitto reads them (spacing and the default access aside), or undefined when there are none. */
function rulesOf(lines: readonly string[], ranges: readonly Range[]): string | undefined {
  if (ranges.length === 0) return undefined;
  const rules = ranges.flatMap((range) => lines.slice(range.start, range.end)).map(parseAclLine);
  return rules.map((rule) => (rule.kind === 'user' ? `user ${rule.name}` : 'topic' in rule ? `${rule.kind} ${rule.access} ${rule.topic}` : '')).filter(Boolean).join('\n');
}

/**
 * Where a service-user block goes in a file that lacks it: at the top, but after any `topic` lines
 * before the first `user` line. Those are the anonymous client's, and put after the block they
 * would become the last service user's (mosquitto has no way back to anonymous after `user`).
 */
function insertionPoint(lines: readonly string[]): number {
  let point = 0;
  for (const [index, line] of lines.entries()) {
    const parsed = parseAclLine(line);
    if (parsed.kind === 'user') break;
    if (parsed.kind === 'topic') point = index + 1;
  }
  return point;
}

function insertLines(lines: readonly string[], at: number, added: readonly string[]): string[] {
  const before = at > 0 && !isBlank(lines[at - 1] ?? '') ? [''] : [];
  const after = at < lines.length && !isBlank(lines[at] ?? '') ? [''] : [];
  return [...lines.slice(0, at), ...before, ...added, ...after, ...lines.slice(at)];
}

function keepAcl(incoming: string, local: string, users: readonly string[]): { content: string; kept: string[] } {
  const mine = linesOf(local);
  const theirs = linesOf(incoming);
  const block = blockOf(mine);
  const { lines, kept } = block ? keepAclBlock(theirs, mine.slice(block.start, block.end), users) : keepAclSections(theirs, mine, users);
  return { content: fileOf(incoming, lines), kept };
}

function keepAclBlock(theirs: readonly string[], block: readonly string[], users: readonly string[]): { lines: string[]; kept: string[] } {
  const theirBlock = blockOf(theirs);
  const kept = users.filter((user) => {
    const granted = rulesOf(block, sectionsOf(block, user));
    return granted !== undefined && granted !== rulesOf(theirs, sectionsOf(theirs, user, theirBlock));
  });
  const lines = theirBlock
    ? [...theirs.slice(0, theirBlock.start), ...block, ...theirs.slice(theirBlock.end)]
    : insertLines(theirs, insertionPoint(theirs), block);
  return { lines, kept };
}

function keepAclSections(theirs: readonly string[], mine: readonly string[], users: readonly string[]): { lines: string[]; kept: string[] } {
  let lines = [...theirs];
  const kept: string[] = [];
  for (const user of users) {
    const own = sectionsOf(mine, user);
    const their = sectionsOf(lines, user);
    if (own.length === 0 || rulesOf(mine, own) === rulesOf(lines, their)) continue;
    const section = own.flatMap((range) => mine.slice(range.start, range.end));
    const first = their[0];
    lines = lines.filter((_, index) => !their.some((range) => index >= range.start && index < range.end));
    lines = first ? [...lines.slice(0, first.start), ...section, ...lines.slice(first.start)] : insertLines(lines, insertionPoint(lines), section);
    kept.push(user);
  }
  return { lines, kept };
}

// ---------------------------------------------------------------- dynsec

type JsonObject = Record<string, unknown>;
type Report = (path: string, message: string) => void;

const ACL_TYPES = ['publishClientSend', 'publishClientReceive', 'subscribeLiteral', 'subscribePattern', 'unsubscribeLiteral', 'unsubscribePattern'];
const DEFAULT_ACCESS = ['publishClientSend', 'publishClientReceive', 'subscribe', 'unsubscribe'];

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The parsed file, or why it is not a JSON object. */
function parseDynsec(text: string): JsonObject | string {
  // The plugin loads an empty file as an empty config: no clients, so nobody could log in.
  if (text.trim() === '') return 'is empty';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `is not valid JSON: ${(error as Error).message}`;
  }
  return isObject(value) ? value : `must be a JSON object, not ${q(value)}`;
}

/** The key of `object` that the plugin reads for `key`: cJSON_GetObjectItem ignores case, and mosquitto_ctrl writes "textName". */
function keyOf(object: JsonObject, key: string): string | undefined {
  return Object.keys(object).find((name) => name.toLowerCase() === key.toLowerCase());
}

function field(object: JsonObject, key: string): unknown {
  const found = keyOf(object, key);
  return found === undefined ? undefined : object[found];
}

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

/** The names in a list, ahead of checking it, for the references into it. */
function namesIn(root: JsonObject, list: string, key: string): Set<string> {
  const items = field(root, list);
  if (!Array.isArray(items)) return new Set();
  return new Set(items.filter(isObject).map((item) => field(item, key)).filter((name): name is string => typeof name === 'string'));
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

function keepDynsec(incoming: string, local: string, users: readonly string[]): { content: string; kept: string[] } {
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

const FORMATS: Record<Kind, Format> = {
  passwd: { problems: passwdProblems, has: (text, user) => linesOf(text).some((line) => passwdUser(line) === user), keep: keepPasswd },
  acl: { problems: aclProblems, has: (text, user) => linesOf(text).some((line) => aclUser(line) === user), keep: keepAcl },
  dynsec: { problems: dynsecProblems, has: dynsecHas, keep: keepDynsec },
};
