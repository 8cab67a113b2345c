import test from 'ava';
import { exitCodeOf, formatReport, type CheckResult } from '../../src/doctor/report.js';

const ok: CheckResult = { name: 'FIFO', ok: true, detail: '/run/mosquitto-failover/vrrp.fifo' };
const failed: CheckResult = { name: 'nat chain', ok: false, detail: 'no chain MOSQUITTO-FAILOVER in the nat table', fix: 'restart the daemon' };
const skipped: CheckResult = { name: 'clock skew', ok: 'skipped', detail: 'needs the control API (issue 14)', fix: 'never shown' };

test('one line per check, names aligned, a fix only on a failure, and a summary', (t) => {
  t.is(
    formatReport([ok, failed, skipped]),
    [
      'ok   FIFO        /run/mosquitto-failover/vrrp.fifo',
      'FAIL nat chain   no chain MOSQUITTO-FAILOVER in the nat table; fix: restart the daemon',
      'skip clock skew  needs the control API (issue 14)',
      '3 checks: 1 ok, 1 failed, 1 skipped',
      '',
    ].join('\n'),
  );
});

test('exit 0 when nothing failed (a skipped check is no failure), 1 when one did', (t) => {
  t.is(exitCodeOf([ok, skipped]), 0);
  t.is(exitCodeOf([ok, failed, skipped]), 1);
  t.is(exitCodeOf([]), 0);
});

test('a failure without a fix has no fix part', (t) => {
  t.is(formatReport([{ name: 'x', ok: false, detail: 'broken' }]), 'FAIL x  broken\n1 check: 0 ok, 1 failed, 0 skipped\n');
});

test('a warning does not fail, shows its fix, and is counted only when there is one', (t) => {
  const warned: CheckResult = { name: 'clock skew', ok: 'warn', detail: 'node2 +2500 ms', fix: 'install chrony' };
  t.is(exitCodeOf([ok, warned]), 0);
  t.is(formatReport([ok, warned]), 'ok   FIFO        /run/mosquitto-failover/vrrp.fifo\nwarn clock skew  node2 +2500 ms; fix: install chrony\n2 checks: 1 ok, 1 warned, 0 failed, 0 skipped\n');
});
