import test from 'ava';
import { analyze, firstReceiveAfter, sentBefore, type ProbeEvent } from '../../lab/history.js';

const send = (seq: number, t = seq): ProbeEvent => ({ t, e: 'send', seq });
const ack = (seq: number, t = seq): ProbeEvent => ({ t, e: 'ack', seq });
const recv = (seq: number, t = seq): ProbeEvent => ({ t, e: 'recv', seq, dup: false });

test('every message acked and received once is ok, nothing else', (t) => {
  const report = analyze([send(1), ack(1), recv(1), send(2), recv(2), ack(2)]);
  t.like(report, { attempted: 2, acknowledged: 2, received: 2, ok: 2, lost: [], recovered: [], duplicated: [], unexpected: [], indeterminate: [] });
});

test('Jepsen terms: lost, recovered, duplicated, unexpected, indeterminate', (t) => {
  const report = analyze([
    send(1), ack(1), // acked, never received: lost
    send(2), recv(2), // received without an ack: recovered
    send(3), ack(3), recv(3), recv(3), // duplicated
    recv(9), // never sent: unexpected
    send(4), { t: 5, e: 'fail', seq: 4, detail: 'client disconnecting' }, // no ack, not received
  ]);
  t.deepEqual(report.lost, [1]);
  t.deepEqual(report.recovered, [2]);
  t.deepEqual(report.duplicated, [3]);
  t.deepEqual(report.unexpected, [9]);
  t.deepEqual(report.indeterminate, [4]);
  t.is(report.ok, 1);
  t.is(report.attempted, 4);
  t.is(report.acknowledged, 2);
});

test('the longest gap between receives is the client-visible outage', (t) => {
  const report = analyze([recv(1, 100), recv(2, 110), recv(3, 900), recv(4, 910)]);
  t.is(report.longestGapMs, 790);
  t.is(report.gapEndedAt, 900);
  t.is(analyze([]).longestGapMs, 0);
  t.is(analyze([]).gapEndedAt, undefined);
});

test('firstReceiveAfter finds the first delivery at or after a moment', (t) => {
  const events = [send(1, 10), recv(1, 12), send(2, 20), recv(2, 500)];
  t.deepEqual(firstReceiveAfter(events, 13), recv(2, 500));
  t.is(firstReceiveAfter(events, 501), undefined);
});

test('sentBefore picks the lost messages sent before a moment', (t) => {
  const events: ProbeEvent[] = [
    { t: 1, e: 'send', seq: 1 },
    { t: 2, e: 'send', seq: 2 },
    { t: 3, e: 'close', who: 'pub' },
    { t: 4, e: 'send', seq: 3 },
  ];
  t.deepEqual(sentBefore(events, [3, 2], 3), [2]);
  t.deepEqual(sentBefore(events, [], 10), []);
});
