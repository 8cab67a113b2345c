/**
 * Tells the syncer when a synced file may have changed: an fs watch on each file's directory (an
 * editor or mosquitto_passwd may replace the file, which a watch on the file itself would miss),
 * quiet for `debounceMs` before it reports, because mosquitto_passwd truncates the file and writes
 * it again in place. A node-cron sweep reports every file anyway, in case a watch missed something
 * (a directory replaced, an inotify limit reached): the syncer compares hashes, so a report
 * without a change costs one read.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';

export interface WatchOptions {
  paths: readonly string[];
  /** node-cron expression of the sweep. */
  sweep: string;
  debounceMs?: number;
  log: Logger;
  onChange: (path: string, why: 'watch' | 'sweep') => void;
}

export class FileWatch {
  private readonly options: WatchOptions;
  private watchers = new Map<string, FSWatcher>();
  private timers = new Map<string, NodeJS.Timeout>();
  private task: ScheduledTask | undefined;
  private stopped = false;

  constructor(options: WatchOptions) {
    this.options = options;
  }

  start(): void {
    for (const directory of new Set(this.options.paths.map((path) => dirname(path)))) this.watchDirectory(directory);
    this.task = cron.schedule(this.options.sweep, () => this.sweep(), { name: 'mqfo-sync-sweep', noOverlap: true });
  }

  stop(): void {
    this.stopped = true;
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    void this.task?.destroy();
    this.task = undefined;
  }

  private sweep(): void {
    // A directory whose watch broke is watched again.
    for (const directory of new Set(this.options.paths.map((path) => dirname(path)))) {
      if (!this.watchers.has(directory)) this.watchDirectory(directory);
    }
    for (const path of this.options.paths) this.options.onChange(path, 'sweep');
  }

  private watchDirectory(directory: string): void {
    if (this.stopped) return;
    const names = new Map(this.options.paths.filter((path) => dirname(path) === directory).map((path) => [basename(path), path]));
    try {
      const watcher = watch(directory, { persistent: false }, (_event, name) => {
        const path = name === null ? undefined : names.get(name.toString());
        if (path) this.debounce(path);
      });
      watcher.on('error', (error) => {
        this.options.log.warn({ err: error, directory }, 'file watch failed; the sweep still looks');
        watcher.close();
        this.watchers.delete(directory);
      });
      this.watchers.set(directory, watcher);
    } catch (error) {
      this.options.log.warn({ err: error, directory }, 'cannot watch the directory; the sweep still looks');
    }
  }

  private debounce(path: string): void {
    clearTimeout(this.timers.get(path));
    this.timers.set(
      path,
      setTimeout(() => {
        this.timers.delete(path);
        if (!this.stopped) this.options.onChange(path, 'watch');
      }, this.options.debounceMs ?? 150),
    );
  }
}
