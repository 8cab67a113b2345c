import test from 'ava';
import { cpuShare, parseStatTicks, parseStatus, parseSwitches, sample, wakeupRate, type Sample } from '../../lab/footprint.js';

const STATUS = ['Name:\tnode', 'VmHWM:\t  109312 kB', 'VmRSS:\t   90112 kB', 'RssAnon:\t   40960 kB', 'RssFile:\t   49152 kB', 'voluntary_ctxt_switches:\t120', 'nonvoluntary_ctxt_switches:\t7', ''].join('\n');

test('memory and context switches from /proc/PID/status, in KiB as the kernel writes them', (t) => {
  t.deepEqual(parseStatus(STATUS), { rssKiB: 90112, anonKiB: 40960, fileKiB: 49152, peakKiB: 109312 });
  t.is(parseSwitches(STATUS), 127);
  t.throws(() => parseStatus('Name:\tnode\n'), { message: /VmRSS/ });
});

test('CPU times from /proc/PID/stat, counted after the last parenthesis of a name that may hold some', (t) => {
  // Fields 14 to 17 (utime, stime, cutime, cstime) are 50, 20, 7, 3.
  const stat = '4242 (we (ir) d) S 1 4242 4242 0 -1 4194560 900 0 0 0 50 20 7 3 20 0 11 0 100 0 0';
  t.deepEqual(parseStatTicks(stat), { cpuTicks: 70, systemTicks: 20, childTicks: 10 });
  t.throws(() => parseStatTicks('4242 (node) S 1'), { message: /CPU times/ });
});

test('a share of one CPU and wake-ups per second over the wall time between two samples', (t) => {
  const at = (ms: number, cpuTicks: number, switches: number): Sample => ({ at: ms, rssKiB: 0, anonKiB: 0, fileKiB: 0, peakKiB: 0, cpuTicks, systemTicks: 0, childTicks: 0, switches });
  // 60 ticks of 1/100 s over 60 s: 1 % of one CPU.
  t.is(cpuShare(at(0, 100, 0), at(60_000, 160, 300), 100), 1);
  t.is(wakeupRate(at(0, 100, 0), at(60_000, 160, 300)), 5);
  t.is(cpuShare(at(0, 0, 0), at(0, 5, 0), 100), 0);
});

test('a sample of this very process', (t) => {
  const one = sample(process.pid);
  t.true(one.rssKiB > 0 && one.cpuTicks >= 0 && one.switches > 0);
});
