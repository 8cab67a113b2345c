/**
 * The one writer of keepalived's track file (paths.trackFile, `track_file` in keepalived.conf):
 * the number in it is added to this node's VRRP priority (weight.ts). keepalived watches the
 * file with inotify and reads it again on each change (keepalived.conf(5), track_file), so the
 * file is replaced atomically: a temp file in the same directory, renamed over it, and never a
 * half-written number.
 */
import writeFileAtomic from 'write-file-atomic';
import { MqfoError } from '../errors.js';

export class TrackFile {
  private readonly path: string;
  private written: number | undefined;

  constructor(path: string) {
    this.path = path;
  }

  /** Writes `value` unless it is what this writer last wrote. */
  async write(value: number): Promise<void> {
    if (value === this.written) return;
    try {
      await writeFileAtomic(this.path, `${value}\n`, { mode: 0o644 });
    } catch (error) {
      throw new MqfoError('EWRITE', `cannot write the track file ${this.path}: ${(error as Error).message}`, { cause: error });
    }
    this.written = value;
  }
}
