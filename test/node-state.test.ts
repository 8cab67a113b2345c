import test from 'ava';
import { pino } from 'pino';
import { initialFacts, NodeState, type Fact } from '../src/node-state.js';

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
