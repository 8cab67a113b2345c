/** mosquitto's password file: `user:hash` lines, checked the way mosquitto 2.0.11 reads them. Pure. */
import { base64Problem, fileOf, type Format, isBlank, linesOf, q, userNameProblem } from './common.js';


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

export const passwd: Format = {
  problems: passwdProblems,
  has: (text, user) => linesOf(text).some((line) => passwdUser(line) === user),
  keep: keepPasswd,
};
