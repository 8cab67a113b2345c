/**
 * The save on a session change, fed mosquitto's own log lines (as `log_dest topic` publishes them):
 * a subscribe storm of 100 persistent clients costs a save at once and one per gap after, not one
 * per line; the clean clients' lines cost nothing. The clock is driven by hand.
 */
import test from 'ava';
import { pino } from 'pino';
import { SaveOnChange } from '../../src/broker/save-on-change.js';
import type { Clock } from '../../src/broker/coalesce.js';
import { Topics } from '../../src/mqtt/topics.js';

class StepClock implements Clock {
  time = 0;
  timers: { at: number; run: () => void }[] = [];
  now = () => this.time;
  setTimeout(run: () => void, ms: number): unknown {
    const timer = { at: this.time + ms, run };
    this.timers.push(timer);
    return timer;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((timer) => timer !== handle);
  }
  /** Moves the time on by `ms`, each timer due on the way run at its own time. */
  async step(ms: number): Promise<void> {
    const until = this.time + ms;
    for (let due = this.next(until); due; due = this.next(until)) {
      this.timers = this.timers.filter((candidate) => candidate !== due);
      this.time = due.at;
      due.run();
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.time = until;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  private next(until: number) {
    return this.timers.filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at)[0];
  }
}

function saver(ready = true) {
  const clock = new StepClock();
  const saves: number[] = [];
  const component = new SaveOnChange({
    login: { host: '127.0.0.1', port: 1, username: 'd', password: 'p' },
    nodeId: 1,
    topics: new Topics('lab'),
    save: async () => {
      saves.push(clock.now());
      return ready;
    },
    log: pino({ level: 'silent' }),
    clock,
  });
  return { clock, saves, component };
}

const connectLine = (id: string, clean: 0 | 1) => `1732423000: New client connected from 10.0.0.9:4242 as ${id} (p2, c${clean}, k60, u'user').`;

test('a subscribe storm of 100 persistent clients: one save at once, then one per 200 ms, the last after the storm', async (t) => {
  const { clock, saves, component } = saver();
  // 100 clients connect and subscribe two filters each, one client a millisecond.
  for (let index = 0; index < 100; index++) {
    component.onLog('$SYS/broker/log/N', connectLine(`c${index}`, 0));
    component.onLog('$SYS/broker/log/M/subscribe', `1732423000: c${index} 1 home/${index}/#`);
    component.onLog('$SYS/broker/log/M/subscribe', `1732423000: c${index} 0 status/${index}`);
    await clock.step(1);
  }
  await clock.step(1_000);
  t.deepEqual(saves, [0, 200]);
  t.deepEqual(component.counts, { saved: 2, skipped: 0 });
  // The same clients again (a reconnect with their session): nothing changed, nothing to save.
  for (let index = 0; index < 100; index++) {
    component.onLog('$SYS/broker/log/N', connectLine(`c${index}`, 0));
    component.onLog('$SYS/broker/log/M/subscribe', `1732423000: c${index} 1 home/${index}/#`);
  }
  await clock.step(1_000);
  t.is(saves.length, 2);
});

test('clean clients, other log lines and lines it cannot read cost nothing', async (t) => {
  const { clock, saves, component } = saver();
  component.onLog('$SYS/broker/log/N', connectLine('pub', 1));
  component.onLog('$SYS/broker/log/M/subscribe', '1732423000: pub 1 home/#');
  component.onLog('$SYS/broker/log/N', '1732423000: Client pub disconnected.');
  component.onLog('$SYS/broker/log/I', '1732423000: Saving in-memory database to /var/lib/mosquitto/mosquitto.db.');
  component.onLog('$SYS/broker/log/M/subscribe', 'garbage');
  await clock.step(1_000);
  t.deepEqual(saves, []);
});

test('a broker not ready for a save (restarting) is counted as skipped', async (t) => {
  const { clock, component } = saver(false);
  component.onLog('$SYS/broker/log/N', connectLine('sub', 0));
  await clock.step(1);
  t.deepEqual(component.counts, { saved: 0, skipped: 1 });
});

test('a save\'s log line names the clients it covers, with what each changed; past 10 clients the rest are counted', async (t) => {
  const clock = new StepClock();
  const lines: { msg: string; reasons?: Record<string, number>; clients?: Record<string, string[]>; otherChanges?: number }[] = [];
  const component = new SaveOnChange({
    login: { host: '127.0.0.1', port: 1, username: 'd', password: 'p' },
    nodeId: 1,
    topics: new Topics('lab'),
    save: async () => true,
    log: pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) }),
    clock,
  });
  component.onLog('$SYS/broker/log/N', connectLine('first', 0));
  await clock.step(1);
  component.onLog('$SYS/broker/log/M/subscribe', '1732423000: first 1 home/#');
  for (let index = 0; index < 12; index++) component.onLog('$SYS/broker/log/N', connectLine(`c${index}`, 0));
  await clock.step(1_000);
  const saves = lines.filter((line) => line.msg === 'asked the broker to save its database');
  t.deepEqual(saves.map((line) => line.clients), [{ first: ['a new persistent session'] }, { first: ['a subscribe'], ...Object.fromEntries(Array.from({ length: 9 }, (_, index) => [`c${index}`, ['a new persistent session']])) }]);
  t.deepEqual(saves.map((line) => line.otherChanges), [undefined, 3]);
  t.deepEqual(saves[1]!.reasons, { 'a subscribe': 1, 'a new persistent session': 12 });
});
