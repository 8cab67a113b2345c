/** What the lab needs from the machine, and what is missing here. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Programs the lab runs, with the Debian package that has each. */
export const LAB_PROGRAMS: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  iptables: 'iptables',
  mosquitto: 'mosquitto',
  mosquitto_pub: 'mosquitto-clients',
  mosquitto_sub: 'mosquitto-clients',
  mosquitto_passwd: 'mosquitto',
  mosquitto_ctrl: 'mosquitto-clients',
  keepalived: 'keepalived',
  ucarp: 'ucarp',
  ping: 'iputils-ping',
  cc: 'gcc',
};

/** The delay fault builds native/nfq-delay.c against this header. */
const NFQUEUE_HEADER = '/usr/include/libnetfilter_queue/libnetfilter_queue.h';

function onPath(program: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', '_', program], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * What is missing for `programs` (default: all the lab's): "root", program names, headers. With
 * the Debian packages that provide them, for the message.
 */
export function missingForLab(programs: readonly string[] = Object.keys(LAB_PROGRAMS)): { missing: string[]; packages: string[] } {
  const missing: string[] = [];
  const packages = new Set<string>();
  if (process.getuid?.() !== 0) missing.push('root');
  for (const program of programs) {
    if (onPath(program)) continue;
    missing.push(program);
    packages.add(LAB_PROGRAMS[program] ?? program);
  }
  if (programs.includes('cc') && !existsSync(NFQUEUE_HEADER)) {
    missing.push('libnetfilter_queue.h');
    packages.add('libnetfilter-queue-dev');
  }
  return { missing, packages: [...packages] };
}

/** One line saying why the lab cannot run here, or undefined when it can. */
export function labUnavailable(programs?: readonly string[]): string | undefined {
  const { missing, packages } = missingForLab(programs);
  if (missing.length === 0) return undefined;
  const install = packages.length > 0 ? `; apt-get install ${packages.join(' ')}` : '';
  return `needs ${missing.join(', ')}${missing.includes('root') ? ' (run as root)' : ''}${install}`;
}
