import test from 'ava';
import { pino } from 'pino';
import { EVENTS_KEPT, initialFacts, NodeState, type Fact } from '../src/node-state.js';

const quiet = pino({ level: 'silent' });

test('an update tells the listeners which facts changed, and only when one did', (t) => {
  const state = new NodeState(quiet, initialFacts(new Date(0)));
  const heard: Fact[][] = [];
  const stop = state.onChange((changed) => heard.push([...changed]));
  state.update({ role: 'MASTER', epoch: 1 });
  state.update({ role: 'MASTER', epoch: 1 });
  state.update({ role: 'MASTER', versions: { passwd: { version: '1.0@1', origin: 1, sha256: 'a' } } });
  state.update({ versions: { passwd: { version: '1.0@1', origin: 1, sha256: 'a' } } });
  stop();
  state.update({ role: 'BACKUP' });
  t.deepEqual(heard, [['role', 'epoch'], ['versions']]);
  t.is(state.current.role, 'BACKUP');
  t.is(state.current.startedAt, new Date(0).toISOString());
});

test('a listener that throws does not stop the update or the other listeners', (t) => {
  const state = new NodeState(quiet);
  let heard = 0;
  state.onChange(() => {
    throw new Error('boom');
  });
  state.onChange(() => heard++);
  state.update({ weight: { value: -100, reasons: ['broker sick'] } });
  t.is(heard, 1);
  t.deepEqual(state.current.weight, { value: -100, reasons: ['broker sick'] });
});

test('events: the listeners hear each one; the state keeps the last EVENTS_KEPT, oldest first', (t) => {
  const state = new NodeState(quiet, initialFacts(new Date(0)));
  const heard: number[] = [];
  const stop = state.onEvent((event) => heard.push(event.at));
  for (let at = 0; at < EVENTS_KEPT + 5; at++) state.record({ type: 'sync', at, kind: 'passwd', result: 'installed', from: 'node2' });
  stop();
  state.record({ type: 'sync', at: 1_000, kind: 'acl', result: 'rejected', reason: 'stale', from: 'node2' });
  t.is(heard.length, EVENTS_KEPT + 5);
  t.is(state.events.length, EVENTS_KEPT);
  t.deepEqual([state.events[0]!.at, state.events.at(-1)!.at], [6, 1_000]);
});
