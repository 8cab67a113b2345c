/**
 * The weight's writer under ucarp (what TrackFile is under keepalived: src/health/track-file.ts).
 * ucarp has no runtime priority, so a weight has two meanings only: below 0, this node stands
 * down (health, or any later term that steps it down) and stops advertising; 0 or more, it
 * advertises. The first write, at the daemon's start, resumes: a daemon restarted while its
 * ucarp was stopped for a sick broker that has since recovered must not leave it stopped.
 */
import type { Logger } from 'pino';
import { MqfoError } from '../errors.js';
import type { DriverControl } from './control.js';

export class UcarpAdvertising {
  private readonly control: Pick<DriverControl, 'release' | 'resume'>;
  private readonly log: Logger;
  /** Whether the last write stopped ucarp; undefined before the first. */
  private released: boolean | undefined;

  constructor(control: Pick<DriverControl, 'release' | 'resume'>, log: Logger) {
    this.control = control;
    this.log = log;
  }

  /** Stops ucarp for a weight below 0, starts it for 0 or more; nothing when that is already so. */
  async write(value: number): Promise<void> {
    const release = value < 0;
    if (release === this.released) return;
    try {
      if (release) await this.control.release();
      else await this.control.resume();
    } catch (error) {
      throw new MqfoError('EDRIVER', `cannot ${release ? 'stop' : 'start'} ucarp: ${(error as Error).message}`, { cause: error });
    }
    if (this.released !== undefined || release) {
      this.log.info({ weight: value }, release ? 'ucarp stopped: this node no longer advertises, its down script released the VIP' : 'ucarp started again: this node advertises');
    }
    this.released = release;
  }
}
