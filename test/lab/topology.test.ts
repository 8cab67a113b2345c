import test from 'ava';
import ipaddr from 'ipaddr.js';
import { LAB_CLIENT_ADDRESS, LAB_NETWORK, labCluster, labDocument } from '../../lab/topology.js';

const inLab = (address: string) => ipaddr.parse(address).match(ipaddr.parseCIDR(LAB_NETWORK));

for (const nodes of [2, 3]) {
  for (const driver of ['keepalived', 'ucarp'] as const) {
    test(`a ${nodes}-node ${driver} lab is a valid cluster whose addresses are all in the lab range`, (t) => {
      const { loaded } = labCluster({ nodes, driver });
      const { config } = loaded;
      t.is(config.nodes.length, nodes);
      t.is(config.failover.driver, driver);
      t.true([config.vip.address, LAB_CLIENT_ADDRESS, ...config.nodes.map((node) => node.address)].every(inLab));
      t.is(Math.max(...config.nodes.map((node) => node.priority)), config.nodes[0]!.priority, 'node 1 has the highest priority');
    });
  }
}

test('each lab gets fresh secrets', (t) => {
  t.notDeepEqual(labCluster().env, labCluster().env);
});

test('configure has the last word, and the result is still validated', (t) => {
  t.is(labCluster({ configure: (document) => (document.failover['preempt_delay'] = 2) }).loaded.config.failover.preempt_delay, 2);
  t.throws(() => labCluster({ configure: (document) => (document.vip['address'] = '10.0.0.1') }), { message: /vip/ });
  t.throws(() => labDocument({ nodes: 1 }), { message: /2 to 9 nodes/ });
});
