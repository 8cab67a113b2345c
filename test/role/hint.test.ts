import test from 'ava';
import { parseHint } from '../../src/role/hint.js';

test('a FIFO line for our instance is a hint with its state and priority', (t) => {
  t.deepEqual(parseHint('INSTANCE "mqfo_lab" MASTER 200', 'mqfo_lab'), { state: 'MASTER', priority: 200 });
  t.deepEqual(parseHint('INSTANCE "mqfo_lab" BACKUP 180\r', 'mqfo_lab'), { state: 'BACKUP', priority: 180 });
  t.deepEqual(parseHint('INSTANCE "mqfo_lab" FAULT 0', 'mqfo_lab'), { state: 'FAULT', priority: 0 });
  t.deepEqual(parseHint('INSTANCE "mqfo_lab" STOP 200', 'mqfo_lab'), { state: 'STOP', priority: 200 });
});

test('an instance removed by a reload (DELETED) stops being MASTER', (t) => {
  t.deepEqual(parseHint('INSTANCE "mqfo_lab" DELETED 200', 'mqfo_lab'), { state: 'STOP', priority: 200 });
});

test('lines about other instances, groups or nothing at all are not hints', (t) => {
  t.is(parseHint('INSTANCE "VI_1" MASTER 100', 'mqfo_lab'), undefined);
  t.is(parseHint('GROUP "mqfo_lab" MASTER', 'mqfo_lab'), undefined);
  t.is(parseHint('INSTANCE "mqfo_lab" MAST', 'mqfo_lab'), undefined);
  t.is(parseHint('', 'mqfo_lab'), undefined);
  t.is(parseHint('garbage', 'mqfo_lab'), undefined);
});
