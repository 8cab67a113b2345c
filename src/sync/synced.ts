/** Which files the daemon keeps in step (cluster.yaml `sync`, and the switchover preference always), and how the broker takes each. */
import type { ClusterConfig } from '../config/schema.js';
import { runtimePaths } from '../paths.js';
import type { Kind } from './content.js';

export interface SyncedFile {
  kind: Kind;
  path: string;
  /** How the broker takes a new file: SIGHUP rereads password and ACL files; the dynsec plugin needs a restart; the broker does not read the preference (`none`). */
  apply: 'reload' | 'restart' | 'none';
}

export const LABEL: Record<Kind, string> = { passwd: 'password file', acl: 'ACL file', dynsec: 'dynamic-security file', leader: 'switchover preference' };

/**
 * The files the broker uses that cluster.yaml asks to keep in step, and the switchover preference:
 * always synced, as a promote must hold on every node (a node that kept its own would pull the VIP
 * back after a restart).
 */
export function syncedFiles(config: ClusterConfig): SyncedFile[] {
  return [...brokerFiles(config), { kind: 'leader', path: runtimePaths(config).leader, apply: 'none' }];
}

function brokerFiles(config: ClusterConfig): SyncedFile[] {
  const { broker, sync } = config;
  if (broker.auth === 'dynsec') return sync.dynsec ? [{ kind: 'dynsec', path: broker.dynsec_file, apply: 'restart' }] : [];
  return [
    ...(sync.password_file ? [{ kind: 'passwd' as const, path: broker.password_file, apply: 'reload' as const }] : []),
    ...(sync.acl_file ? [{ kind: 'acl' as const, path: broker.acl_file, apply: 'reload' as const }] : []),
  ];
}
