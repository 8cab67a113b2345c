/**
 * Throwaway certificates for the TLS tests, made by the real openssl into a directory the caller
 * owns and removes (the lab's, or a test's scratch directory): a CA, and for each node a
 * certificate with its address as an IP SAN, as the README tells users to make them (the same
 * commands). EC P-256 keys: quick to make, and what a user would pick today.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterConfig } from '../src/config/schema.js';

export interface Issued {
  /** PEM certificate. */
  cert: string;
  /** PEM private key, mode 0600. */
  key: string;
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
/** Long enough for any test run, short enough that nothing left behind stays trusted for long. */
const DAYS = '2';

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
}

/** A self-signed CA named `name`, as `dir`/`name`.crt and .key. */
export function makeCa(dir: string, name: string): Issued {
  mkdirSync(dir, { recursive: true });
  const issued = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  openssl(['req', '-x509', '-new', ...KEY, '-keyout', issued.key, '-out', issued.cert, '-days', DAYS, '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  chmodSync(issued.key, 0o600);
  return issued;
}

/** A certificate for `name` at `address` (its IP SAN), signed by `ca`, as `dir`/`name`.crt and .key. */
export function issueCert(ca: Issued, dir: string, name: string, address: string): Issued {
  mkdirSync(dir, { recursive: true });
  const issued = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  openssl(['req', '-new', ...KEY, '-keyout', issued.key, '-out', csr, '-subj', `/CN=${name}`]);
  writeFileSync(ext, `subjectAltName=IP:${address}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', DAYS, '-extfile', ext, '-out', issued.cert]);
  chmodSync(issued.key, 0o600);
  return issued;
}

/** What mosquitto_pub, _sub and _ctrl need to reach an admin listener: the CA, when it speaks TLS. */
export function adminTlsArgs(config: Pick<ClusterConfig, 'tls'>): string[] {
  return config.tls ? ['--cafile', config.tls.cafile] : [];
}
