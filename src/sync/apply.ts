/**
 * How a synced file reaches the broker, and back out when it hurts: reload (SIGHUP rereads
 * password and ACL files) or restart (the 2.0 dynamic-security plugin reads its file only at
 * start), then the health check. A peer's file that leaves the broker unhealthy is rolled back
 * to `.bak`; a local edit that does is put back and kept beside the file.
 */
import type { Logger } from 'pino';
import type { BrokerControl } from '../broker/control.js';
import { installFile, keepBeside, rollBack } from './files.js';
import { LABEL, type SyncedFile } from './synced.js';

export interface ApplierOptions {
  broker: Pick<BrokerControl, 'reload' | 'restart'>;
  /** Resolves when the broker is healthy, rejects (bounded) when it is not. */
  healthy: () => Promise<void>;
  log: Logger;
  now: () => number;
}

export class Applier {
  private readonly options: ApplierOptions;

  constructor(options: ApplierOptions) {
    this.options = options;
  }

  /** Makes the broker take the file as it is on disk, and checks its health; rejects when unhealthy. */
  async apply(file: SyncedFile, what: string): Promise<void> {
    if (file.apply === 'none') return;
    if (file.apply === 'restart') await this.options.broker.restart();
    else await this.options.broker.reload();
    await this.options.healthy();
    this.options.log.debug({ kind: file.kind, what, how: file.apply }, 'broker took the file');
  }

  /** Installs a peer's `text` over `previous` and applies it; rolls back to `.bak` when the broker is then unhealthy. True when it stands. */
  async install(file: SyncedFile, text: string, previous: string | undefined, facts: Record<string, unknown>): Promise<boolean> {
    const { kind, path } = file;
    await installFile(path, text, previous);
    try {
      await this.apply(file, `version ${String(facts.version)}`);
      return true;
    } catch (error) {
      this.options.log.error({ ...facts, err: error }, `the broker is not healthy with the new ${LABEL[kind]}: rolling back to .bak`);
      if (await rollBack(path)) await this.apply(file, 'the rollback').catch((again: unknown) => this.options.log.error({ err: again, kind }, 'the broker is not healthy after the rollback either'));
      return false;
    }
  }

  /**
   * Applies a local edit (already on disk, as `text`); if the broker is then unhealthy, the edit
   * is kept beside the file, `previous` put back and applied again. True when the edit stands.
   * `rewritten`: the daemon changed the file after the edit (service users put back).
   */
  async localEdit(file: SyncedFile, text: string, previous: string | undefined, rewritten: boolean): Promise<boolean> {
    const { kind, path } = file;
    const { log } = this.options;
    try {
      // The dynamic-security plugin writes its file itself, after it applied the change
      // (mosquitto_ctrl): restarting the broker for it would only cut every client off, unless
      // the daemon rewrote the file, which the plugin does not know.
      if (file.apply === 'restart' && !rewritten) await this.options.healthy();
      else await this.apply(file, 'a local edit');
      return true;
    } catch (error) {
      if (previous === undefined) {
        log.error({ err: error, kind, path }, `the broker is not healthy after a local edit of the ${LABEL[kind]}, and there is no earlier text to go back to`);
        return false;
      }
      const kept = await keepBeside(path, `rejected-${this.options.now()}`, text);
      await installFile(path, previous, text);
      log.error({ err: error, kind, path, kept }, `the broker is not healthy with the local edit of the ${LABEL[kind]}: put the previous text back, kept the edit beside the file, not synced`);
      await this.apply(file, 'the previous text').catch((again: unknown) => log.error({ err: again, kind }, 'the broker is not healthy with the previous text either'));
      return false;
    }
  }
}
