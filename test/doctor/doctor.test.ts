import test from 'ava';
import { bounded } from '../../src/doctor/doctor.js';

test('a check that throws fails alone, with its error and its fix', async (t) => {
  const result = await bounded({ name: 'iptables', fix: 'run as root', run: () => Promise.reject(new Error('iptables: Permission denied')) }, 1_000);
  t.deepEqual(result, { name: 'iptables', ok: false, detail: 'iptables: Permission denied', fix: 'run as root' });
});

test('a check that never answers fails at its bound', async (t) => {
  const result = await bounded({ name: 'peer b', fix: 'look at b', run: () => new Promise(() => undefined) }, 50);
  t.deepEqual(result, { name: 'peer b', ok: false, detail: 'no answer within 50 ms', fix: 'look at b' });
});

test('a check that answers is passed through', async (t) => {
  const answer = { name: 'FIFO', ok: true as const, detail: '/run/x.fifo' };
  t.deepEqual(await bounded({ name: 'FIFO', run: async () => answer }, 1_000), answer);
});
