import test from 'ava';
import { keepalivedConfigOf, notifyFifoOf } from '../../src/doctor/driver.js';

test("keepalived's config file from its command line, in each spelling keepalived(8) takes, else its default", (t) => {
  t.is(keepalivedConfigOf(['/usr/sbin/keepalived', '--dont-fork', '-f', '/etc/k.conf']), '/etc/k.conf');
  t.is(keepalivedConfigOf(['keepalived', '--use-file', '/lab/k.conf', '--pid', '/lab/k.pid']), '/lab/k.conf');
  t.is(keepalivedConfigOf(['keepalived', '--use-file=/x.conf']), '/x.conf');
  t.is(keepalivedConfigOf(['keepalived', '-f/y.conf']), '/y.conf');
  t.is(keepalivedConfigOf(['/usr/sbin/keepalived', '--dont-fork', '-D']), '/etc/keepalived/keepalived.conf');
});

test('vrrp_notify_fifo from keepalived.conf, not from a comment', (t) => {
  t.is(notifyFifoOf('global_defs {\n    # vrrp_notify_fifo /old.fifo\n    vrrp_notify_fifo /run/mosquitto-failover/vrrp.fifo\n}\n'), '/run/mosquitto-failover/vrrp.fifo');
  t.is(notifyFifoOf('global_defs {\n  vrrp_notify_fifo "/q.fifo"  # quoted\n}\n'), '/q.fifo');
  t.is(notifyFifoOf('global_defs {\n  ! vrrp_notify_fifo /c.fifo\n}\n'), undefined);
  t.is(notifyFifoOf(''), undefined);
});
