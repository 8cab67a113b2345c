import test from 'ava';
import { CHAIN, dnatArgs, dnatLine, parseNat } from '../../src/takeover/nat.js';

const target = { vip: '192.168.1.10', port: 1883, address: '192.168.1.11', addressPort: 1883 };

test('parseNat reads our chain, its rules and the jumps to it from iptables -S', (t) => {
  const listing = [
    '-P PREROUTING ACCEPT',
    '-N DOCKER',
    `-N ${CHAIN}`,
    `-A PREROUTING -j ${CHAIN}`,
    '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
    `-A OUTPUT -j ${CHAIN}`,
    `-A OUTPUT -j ${CHAIN}`,
    dnatLine(target),
    '-A DOCKER -i docker0 -j RETURN',
    '',
  ].join('\n');
  t.deepEqual(parseNat(listing), { chainExists: true, rules: [dnatLine(target)], jumps: { PREROUTING: 1, OUTPUT: 2 } });
});

test('an empty nat table has no chain and no jumps', (t) => {
  t.deepEqual(parseNat('-P PREROUTING ACCEPT\n-P OUTPUT ACCEPT\n'), { chainExists: false, rules: [], jumps: { PREROUTING: 0, OUTPUT: 0 } });
});

test('the DNAT line is what iptables -S prints back, with the implied -m tcp, and matches only while the VIP is local (addrtype)', (t) => {
  t.is(dnatLine(target), `-A ${CHAIN} -d 192.168.1.10/32 -p tcp -m tcp --dport 1883 -m addrtype --dst-type LOCAL -j DNAT --to-destination 192.168.1.11:1883`);
  t.deepEqual(dnatArgs(target), ['-d', '192.168.1.10/32', '-p', 'tcp', '--dport', '1883', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'DNAT', '--to-destination', '192.168.1.11:1883']);
});
