/**
 * mosquitto's ACL file: `user`, `topic` and `pattern` lines, checked the way mosquitto 2.0.11
 * reads them; the service users' rules live in a marked block (or their `user` sections). Pure.
 */
import { aclTopicProblem, fileOf, forbiddenCharacter, type Format, isBlank, linesOf, q } from './common.js';

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

export const acl: Format = {
  problems: aclProblems,
  has: (text, user) => linesOf(text).some((line) => aclUser(line) === user),
  keep: keepAcl,
};
