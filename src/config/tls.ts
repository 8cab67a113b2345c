/**
 * What the daemon's own MQTT clients need for TLS: the CA that signed the brokers' certificates.
 * Read once, as `run` or `passwd` starts, so that an unreadable or wrong file is one clear error
 * at start rather than a failed connection on every attempt. `check` and `render` never read it:
 * they may run where the nodes' files are not (a workstation rendering every node).
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { messageOf, MqfoError } from '../errors.js';
import type { LoadedConfig } from './load.js';

export interface TlsMaterial {
  /** PEM: the CA certificate(s) of tls.cafile. */
  ca: Buffer;
}

/** `loaded` with the CA of its `tls` section read (unchanged when it has none). */
export async function withTls(loaded: LoadedConfig): Promise<LoadedConfig> {
  const { tls } = loaded.config;
  if (!tls) return loaded;
  let ca: Buffer;
  try {
    ca = await readFile(tls.cafile);
  } catch (error) {
    throw new MqfoError('ETLSFILE', `cannot read tls.cafile ${tls.cafile}: ${messageOf(error)}`, { cause: error });
  }
  try {
    // The first certificate of the file: enough to tell a PEM certificate from a key or a typo.
    new X509Certificate(ca);
  } catch (error) {
    throw new MqfoError('ETLSFILE', `tls.cafile ${tls.cafile} is not a PEM certificate (-----BEGIN CERTIFICATE-----): ${messageOf(error)}`, { cause: error });
  }
  return { ...loaded, tls: { ca } };
}
