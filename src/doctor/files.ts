/**
 * The files an installation is made of, compared with what cluster.yaml gives now: the rendered
 * files byte for byte and mode for mode, and the secrets' modes. The decisions are pure; `stat`
 * and `readInstalled` are the only reads.
 */
import { readFile, stat } from 'node:fs/promises';
import type { RenderedFile } from '../render/render.js';
import type { CheckResult } from './report.js';

export interface Installed {
  content: Buffer;
  /** Permission bits only (0o777). */
  mode: number;
  uid: number;
}

/** A rendered file, where it is looked for, and what is there (undefined: nothing). */
export interface Placed {
  file: RenderedFile;
  path: string;
  installed: Installed | undefined;
  /**
   * The place is a file that holds more than the rendered text: the ACL file itself, when
   * service-users.acl is installed as it (credential sync and the admin edit the rest of it).
   * Then the rendered text must be in it, not be all of it.
   */
  within?: boolean;
}

export const octal = (mode: number): string => mode.toString(8).padStart(4, '0');

/** What is wrong with one placed file, or undefined when it is what render gives. */
export function difference({ file, installed, within }: Placed): string | undefined {
  if (!installed) return 'missing';
  const rendered = Buffer.from(file.content, 'utf8');
  const content = within ? !installed.content.includes(rendered) : !installed.content.equals(rendered);
  const mode = installed.mode !== file.mode;
  if (!content && !mode) return undefined;
  const what = within ? `does not hold what cluster.yaml renders as ${file.name}` : 'differs from what cluster.yaml renders';
  return [content ? what : '', mode ? `mode ${octal(installed.mode)}, render gives ${octal(file.mode)}` : ''].filter(Boolean).join(', ');
}

/**
 * One line for every rendered file that is missing or differs; the fix renders again and
 * installs each of those files with its mode (README, What `render` writes).
 */
export function renderedCheck(placed: readonly Placed[], render: { command: string; out: string }): CheckResult {
  const name = 'rendered files';
  const differing = placed.flatMap((entry) => {
    const what = difference(entry);
    return what === undefined ? [] : [{ entry, what }];
  });
  if (differing.length === 0) return { name, ok: true, detail: `${placed.length} file${placed.length === 1 ? '' : 's'} as cluster.yaml renders ${placed.length === 1 ? 'it' : 'them'}` };
  const installs = differing.map(({ entry }) => `install -m ${octal(entry.file.mode)} ${render.out}/${entry.file.name} ${entry.path}`);
  return {
    name,
    ok: false,
    detail: differing.map(({ entry, what }) => `${entry.path}: ${what}`).join('; '),
    fix: `${render.command} --out ${render.out} && ${installs.join(' && ')}`,
  };
}

/** A file that holds a secret: nobody may have more access than `mode` gives; `root`: owned by root. */
export interface Secret {
  what: string;
  path: string;
  mode: number;
  root?: boolean;
}

export function secretProblem(secret: Secret, found: Pick<Installed, 'mode' | 'uid'> | undefined): string | undefined {
  if (!found) return `${secret.what} ${secret.path}: missing`;
  const problems: string[] = [];
  const more = found.mode & ~secret.mode;
  if (more !== 0) problems.push(`mode ${octal(found.mode)} gives more than ${octal(secret.mode)}`);
  if (secret.root && found.uid !== 0) problems.push(`owned by uid ${found.uid}, not root`);
  return problems.length === 0 ? undefined : `${secret.what} ${secret.path}: ${problems.join(', ')}`;
}

export function secretsCheck(secrets: readonly { secret: Secret; found: Pick<Installed, 'mode' | 'uid'> | undefined }[]): CheckResult {
  const name = 'secret file modes';
  const bad = secrets.flatMap(({ secret, found }) => {
    const problem = secretProblem(secret, found);
    return problem === undefined ? [] : [{ secret, found, problem }];
  });
  if (bad.length === 0) return { name, ok: true, detail: secrets.map(({ secret, found }) => `${secret.what} ${octal(found?.mode ?? 0)}`).join(', ') };
  const fixes = bad.map(({ secret, found }) => (found ? `${secret.root && found.uid !== 0 ? `chown root ${secret.path} && ` : ''}chmod ${octal(secret.mode)} ${secret.path}` : `create ${secret.path}`));
  return { name, ok: false, detail: bad.map(({ problem }) => problem).join('; '), fix: fixes.join(' && ') };
}

/** The file at `path` with its mode and owner, or undefined when there is none. */
export async function readInstalled(path: string): Promise<Installed | undefined> {
  try {
    const [content, info] = await Promise.all([readFile(path), stat(path)]);
    return { content, mode: info.mode & 0o777, uid: info.uid };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export async function statOf(path: string): Promise<Pick<Installed, 'mode' | 'uid'> | undefined> {
  try {
    const info = await stat(path);
    return { mode: info.mode & 0o777, uid: info.uid };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
