import test from 'ava';
import type { Runner } from '../../src/exec/runner.js';
import { COUNT_CHAIN, countLine, parseCounts, VrrpCounter } from '../../src/health/vrrp-counter.js';

const LISTING = `Chain ${COUNT_CHAIN} (1 references)
    pkts      bytes target     prot opt in     out     source               destination
      42     1680 RETURN     all  --  *      *       198.18.0.11          0.0.0.0/0
       0        0 RETURN     all  --  *      *       198.18.0.13          0.0.0.0/0
`;

test('parseCounts reads the packets counted per source address', (t) => {
  t.deepEqual(parseCounts(LISTING), { '198.18.0.11': 42, '198.18.0.13': 0 });
  t.deepEqual(parseCounts(''), {});
});

/** A runner that answers `iptables -S` with `rules` and records every other command. */
function recording(rules: string[]): { run: Runner; calls: string[][] } {
  const calls: string[][] = [];
  const run: Runner = async (argv) => {
    if (argv.at(-1) === '-S') return { stdout: rules.join('\n'), stderr: '', exitCode: 0 };
    calls.push([...argv.slice(3)]);
    return { stdout: '', stderr: '', exitCode: 0 };
  };
  return { run, calls };
}

test('install adds the chain, one counting rule per peer and one jump from INPUT; again, nothing', async (t) => {
  const fresh = recording(['-P INPUT ACCEPT']);
  await new VrrpCounter(fresh.run, ['198.18.0.11']).install();
  t.deepEqual(fresh.calls, [
    ['-N', COUNT_CHAIN],
    ['-F', COUNT_CHAIN],
    ['-A', COUNT_CHAIN, '-s', '198.18.0.11/32', '-j', 'RETURN'],
    ['-A', 'INPUT', '-p', '112', '-j', COUNT_CHAIN],
  ]);
  const done = recording(['-P INPUT ACCEPT', `-N ${COUNT_CHAIN}`, `-A INPUT -p 112 -j ${COUNT_CHAIN}`, countLine('198.18.0.11')]);
  await new VrrpCounter(done.run, ['198.18.0.11']).install();
  t.deepEqual(done.calls, []);
});

test('install removes a second jump; remove takes the jumps and the chain away', async (t) => {
  const twice = [`-N ${COUNT_CHAIN}`, `-A INPUT -p 112 -j ${COUNT_CHAIN}`, `-A INPUT -p 112 -j ${COUNT_CHAIN}`, countLine('198.18.0.11')];
  const doubled = recording(twice);
  await new VrrpCounter(doubled.run, ['198.18.0.11']).install();
  t.deepEqual(doubled.calls, [['-D', 'INPUT', '-p', '112', '-j', COUNT_CHAIN]]);
  const removing = recording(twice);
  await new VrrpCounter(removing.run, ['198.18.0.11']).remove();
  t.deepEqual(removing.calls, [['-D', 'INPUT', '-p', '112', '-j', COUNT_CHAIN], ['-D', 'INPUT', '-p', '112', '-j', COUNT_CHAIN], ['-F', COUNT_CHAIN], ['-X', COUNT_CHAIN]]);
  const none = recording(['-P INPUT ACCEPT']);
  await new VrrpCounter(none.run, ['198.18.0.11']).remove();
  t.deepEqual(none.calls, []);
});
