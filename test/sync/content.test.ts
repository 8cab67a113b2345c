import test from 'ava';
import { contentProblems, keepServiceUsers, KINDS, missingServiceUsers, type ServiceUsers } from '../../src/sync/content.js';

const USERS: ServiceUsers = { bridge: 'mqfo-bridge', daemon: 'mqfo-daemon' };

// Made by mosquitto_passwd 2.0.11 (-c -b …; legacy with -H sha512, the 1.x format).
const BRIDGE = 'mqfo-bridge:$7$101$LqIDXlURj4GT4/7V$vC4P0zHvkPWAMn2vW8KUcV2xuAJXek0rw5UY6J1ybgPFV+bqI1H0839rn5P1RhFd0kL7+S829VvJ6Y3xhu5evg==';
const DAEMON = 'mqfo-daemon:$7$101$V/tfG94Y+nqiGT7Y$NXja8/TCydIlnk9Fgb+gdg/sezp6uF75+TYtb0LCR/NkCOM4GgNwIeXxAU4tEnUY8DzNgcfXUNxg2oNbg1hWjw==';
const SENSOR = 'sensor:$7$101$wdI+z39XAccsuOji$/OTJSSUYBNRuvUlzb0/G1NCxqm2jWlBB3cv9RSf6vmBPAtvqRm2BVd87xa6XIHCa/P+SqfyybP7LQs8voK+qqw==';
const LEGACY = 'legacy:$6$zk7sv9WaJA+qo+X8$oGzoCzLMh4RVk6YcnxuZ1+Nq8jSNKcr9Qu8+6xf4UHoJeCMmMNOuZ/xJYh/XYn6T181nI3LauOeCLZzETKzJGw==';
// The same user after `mosquitto_passwd -b FILE mqfo-bridge another-password`.
const BRIDGE_CHANGED = 'mqfo-bridge:$7$101$/2gX6J/99Gl0dedI$pnbnzZccT8K0hCLrzqL2qtbtM4snCy4FIcbK/6VN6aR3Vwg4R7MyYctWRiuXhFXWMsbIr8nAFlRm1xfiMN+4cA==';
const SALT = 'LqIDXlURj4GT4/7V';
const HASH = 'vC4P0zHvkPWAMn2vW8KUcV2xuAJXek0rw5UY6J1ybgPFV+bqI1H0839rn5P1RhFd0kL7+S829VvJ6Y3xhu5evg==';

const lines = (...items: string[]): string => `${items.join('\n')}\n`;

test('KINDS lists the synced files: the three broker files and the switchover preference', (t) => {
  t.deepEqual(KINDS, ['passwd', 'acl', 'dynsec', 'leader']);
});

// ------------------------------------------------------------------ passwd

test('a password file made by mosquitto_passwd is valid, $6$ (1.x) and $7$ (2.0) hashes alike', (t) => {
  t.deepEqual(contentProblems('passwd', lines(BRIDGE, DAEMON, SENSOR, LEGACY)), []);
  t.deepEqual(contentProblems('passwd', ''), []);
});

test('passwd: comments in the first column, blank lines and CRLF ends are skipped, as mosquitto does', (t) => {
  t.deepEqual(contentProblems('passwd', `# service users: keep\n\n   \n${BRIDGE}\r\n${DAEMON}`), []);
});

test('passwd: every broken line is reported with its number and the user quoted', (t) => {
  const text = lines(
    'just garbage',
    `:$7$101$${SALT}$${HASH}`,
    ` ${SENSOR}`,
    'alice:hunter2',
    `bob:$6$${SALT}`,
    `carol:$7$0$${SALT}$${HASH}`,
    `dave:$7$many$${SALT}$${HASH}`,
    `erin:$7$101$${SALT.slice(0, 12)}$${HASH}`,
    `frank:$7$101$${SALT}$${HASH.slice(4)}`,
    `grace:$7$101$${SALT}$${HASH}:extra`,
    `hei\u0001di:$7$101$${SALT}$${HASH}`,
    `ivan:$6$${SALT}$${HASH.replace('v', '*')}`,
    BRIDGE,
    BRIDGE_CHANGED,
  );
  t.deepEqual(contentProblems('passwd', text), [
    'line 1: "just garbage" is not "user:hash"',
    'line 2: user name "" is empty',
    'line 3: user name " sensor" has white space around it (mosquitto would trim it)',
    'line 4: the password hash of "alice" is not a mosquitto hash ($6$… or $7$…): plain-text passwords are never synced',
    'line 5: the password hash of "bob" is not $6$salt$hash',
    'line 6: the password hash of "carol" has iterations "0", not a whole number from 1',
    'line 7: the password hash of "dave" has iterations "many", not a whole number from 1',
    'line 8: the password hash of "erin" has a salt that is base64 of 9 bytes, not 12',
    'line 9: the password hash of "frank" has a hash that is base64 of 61 bytes, not 64',
    'line 10: the password hash of "grace" is followed by another ":"',
    'line 11: user name "hei\\u0001di" contains U+0001, which MQTT does not allow',
    'line 12: the password hash of "ivan" has a hash that is not base64',
    'line 14: user "mqfo-bridge" is already on line 13',
  ]);
});

test('passwd: a plain-text password never appears in a problem (problems are logged)', (t) => {
  const [problem] = contentProblems('passwd', 'alice:correct horse battery staple\n');
  t.truthy(problem);
  t.false(problem!.includes('correct horse'));
});

test('passwd: missingServiceUsers names the users without a line', (t) => {
  t.deepEqual(missingServiceUsers('passwd', lines(BRIDGE, SENSOR), USERS), ['mqfo-daemon']);
  t.deepEqual(missingServiceUsers('passwd', lines(`# ${DAEMON}`), USERS), ['mqfo-bridge', 'mqfo-daemon']);
  t.deepEqual(missingServiceUsers('passwd', lines(SENSOR, DAEMON, BRIDGE), USERS), []);
});

test('passwd: keepServiceUsers puts back a changed service user in place and adds a missing one at the end', (t) => {
  const result = keepServiceUsers('passwd', lines(SENSOR, BRIDGE_CHANGED, LEGACY), lines(BRIDGE, DAEMON), USERS);
  t.deepEqual(result, { content: lines(SENSOR, BRIDGE, LEGACY, DAEMON), kept: ['mqfo-bridge', 'mqfo-daemon'] });
  t.deepEqual(contentProblems('passwd', result.content), []);
});

test('passwd: keepServiceUsers leaves a file that already has the same service users as it is', (t) => {
  const incoming = `${SENSOR}\n${DAEMON}\n${BRIDGE}`; // no final line end: still byte for byte
  t.deepEqual(keepServiceUsers('passwd', incoming, lines(BRIDGE, DAEMON, LEGACY), USERS), { content: incoming, kept: [] });
});

test('passwd: keepServiceUsers collapses duplicate service-user lines into the local one', (t) => {
  const result = keepServiceUsers('passwd', lines(BRIDGE, SENSOR, BRIDGE_CHANGED, DAEMON), lines(BRIDGE, DAEMON), USERS);
  t.deepEqual(result, { content: lines(BRIDGE, SENSOR, DAEMON), kept: ['mqfo-bridge'] });
});

test('passwd: a service user missing on both sides stays missing', (t) => {
  const result = keepServiceUsers('passwd', lines(SENSOR), lines(BRIDGE), USERS);
  t.deepEqual(result, { content: lines(SENSOR, BRIDGE), kept: ['mqfo-bridge'] });
  t.deepEqual(missingServiceUsers('passwd', result.content, USERS), ['mqfo-daemon']);
});

// ------------------------------------------------------------------ acl

// As templates/service-users.acl.liquid renders it.
const BLOCK = [
  '# BEGIN mosquitto-failover service users (cluster "home"); keep this block in your ACL file.',
  '# The bridge user: the replicated topics, and its own connection state (notifications true).',
  'user mqfo-bridge',
  'topic deny mosquitto-failover/home/#',
  'topic readwrite home/#',
  'topic write $SYS/broker/connection/+/state',
  '',
  '# The daemon user: the peer channel, its health probe, and the broker\'s own state.',
  'user mqfo-daemon',
  'topic readwrite mosquitto-failover/home/#',
  'topic read $SYS/#',
  '# END mosquitto-failover service users',
];
const SENSORS = ['# Sensors', 'user sensor', 'topic write home/sensors/#', 'pattern read home/%u/#'];

test('acl: the rendered service-user block and ordinary sections are valid', (t) => {
  t.deepEqual(contentProblems('acl', lines(...BLOCK, '', ...SENSORS)), []);
});

test('acl: what mosquitto 2.0.11 parses is accepted (leading spaces, optional access, topics with spaces…)', (t) => {
  const text = lines(
    'topic read public/#', // before any user: the anonymous client's
    '   user   sensor  ',
    'topic home/sensor',
    'topic  read   home/living room/temperature  ',
    'pattern deny %c/secret/#',
    '\t ',
    'topic read $SYS/broker/+/count\r',
    'user two words',
    'topic write +/+/#',
  );
  t.deepEqual(contentProblems('acl', text), []);
});

test('acl: what mosquitto refuses to start with is reported, and what it would misread too', (t) => {
  const text = lines(
    'topik read a',
    '  # indented comment',
    'user',
    'topic',
    'topic read',
    'topic foo bar',
    'topic read a/#/b',
    'pattern write a/b+',
    'topic\tread a',
    'topic read a\tb',
    'Topic a',
    `topic read ${'a/'.repeat(201)}a`,
    `topic read ${'a'.repeat(65_536)}`,
  );
  t.deepEqual(contentProblems('acl', text), [
    'line 1: unknown keyword "topik": mosquitto knows user, topic and pattern',
    'line 2: unknown keyword "#": mosquitto knows user, topic and pattern (a comment needs # in the first column)',
    'line 3: user has no name',
    'line 4: topic has no topic',
    'line 5: topic read has no topic (mosquitto would read "read" as the topic)',
    'line 6: access "foo" is not read, write, readwrite or deny (a topic with spaces needs one first)',
    'line 7: topic "a/#/b" has # in the wrong place: # must be a whole level and the last one (e.g. home/#)',
    'line 8: topic "a/b+" has + in the wrong place: + must be a whole level (e.g. home/+/state)',
    'line 9: contains U+0009 (tab), which MQTT does not allow; mosquitto separates words with spaces only',
    'line 10: contains U+0009 (tab), which MQTT does not allow; mosquitto separates words with spaces only',
    'line 11: unknown keyword "Topic": mosquitto knows user, topic and pattern',
    `line 12: topic ${JSON.stringify(`${'a/'.repeat(201)}a`).slice(0, 77)}... has more than 200 "/", mosquitto's limit`,
    `line 13: topic ${JSON.stringify('a'.repeat(65_536)).slice(0, 77)}... is longer than 65535 bytes`,
  ]);
});

test('acl: missingServiceUsers looks for `user NAME` sections, not comments or topics', (t) => {
  t.deepEqual(missingServiceUsers('acl', lines(...BLOCK), USERS), []);
  t.deepEqual(missingServiceUsers('acl', lines('# user mqfo-bridge', 'topic read mqfo-daemon', 'user  mqfo-daemon '), USERS), ['mqfo-bridge']);
});

test('acl: keepServiceUsers replaces the incoming block with the local one', (t) => {
  const changed = BLOCK.map((line) => line.replace('topic readwrite home/#', 'topic readwrite #'));
  const result = keepServiceUsers('acl', lines(...SENSORS, '', ...changed, '# tail'), lines(...BLOCK), USERS);
  t.deepEqual(result, { content: lines(...SENSORS, '', ...BLOCK, '# tail'), kept: ['mqfo-bridge'] });
});

test('acl: a block differing only in comments is replaced, but no user is reported as kept', (t) => {
  const renamed = [BLOCK[0]!.replace('"home"', '"other"'), ...BLOCK.slice(1)];
  t.deepEqual(keepServiceUsers('acl', lines(...renamed), lines(...BLOCK), USERS), { content: lines(...BLOCK), kept: [] });
  t.deepEqual(keepServiceUsers('acl', lines(...BLOCK), lines(...BLOCK), USERS), { content: lines(...BLOCK), kept: [] });
});

test('acl: a missing block goes on top', (t) => {
  const result = keepServiceUsers('acl', lines(...SENSORS), lines(...BLOCK, '', 'user local-only'), USERS);
  t.deepEqual(result, { content: lines(...BLOCK, '', ...SENSORS), kept: ['mqfo-bridge', 'mqfo-daemon'] });
});

test('acl: a missing block goes after the anonymous topic lines, which would otherwise become the daemon user\'s', (t) => {
  const incoming = lines('# Anyone may read the public topics.', 'topic read public/#', 'pattern read %c/#', ...SENSORS);
  const result = keepServiceUsers('acl', incoming, lines(...BLOCK), USERS);
  t.deepEqual(result.content, lines('# Anyone may read the public topics.', 'topic read public/#', '', ...BLOCK, '', 'pattern read %c/#', ...SENSORS));
});

test('acl: without a local block, the local service-user sections replace the incoming ones', (t) => {
  const local = lines('user mqfo-bridge', 'topic readwrite home/#', '', '# the daemon', 'user mqfo-daemon', 'topic read $SYS/#');
  const incoming = lines(...SENSORS, '', 'user mqfo-bridge', 'topic readwrite #', '# more users', 'user other', 'topic read x');
  const result = keepServiceUsers('acl', incoming, local, USERS);
  t.deepEqual(result, {
    content: lines('user mqfo-daemon', 'topic read $SYS/#', '', ...SENSORS, '', 'user mqfo-bridge', 'topic readwrite home/#', '# more users', 'user other', 'topic read x'),
    kept: ['mqfo-bridge', 'mqfo-daemon'],
  });
  t.deepEqual(contentProblems('acl', result.content), []);
});

test('acl: sections that grant the same are not kept, and nothing changes', (t) => {
  const local = lines('user mqfo-bridge', 'topic readwrite home/#');
  const incoming = lines('user   mqfo-bridge', '# same rights, other spacing', 'topic readwrite home/#  ', '', 'user x');
  t.deepEqual(keepServiceUsers('acl', incoming, local, USERS), { content: incoming, kept: [] });
});

test('acl: with nothing local for the service users, incoming stays as it is', (t) => {
  const incoming = lines(...SENSORS);
  t.deepEqual(keepServiceUsers('acl', incoming, lines('user someone'), USERS), { content: incoming, kept: [] });
});

// ------------------------------------------------------------------ dynsec

// Written by the 2.0.11 plugin after `mosquitto_ctrl dynsec init` and createClient, createRole,
// addRoleACL, addClientRole, createGroup, addGroupClient and addGroupRole.
const DYNSEC = String.raw`{
	"defaultACLAccess":	{
		"publishClientSend":	false,
		"publishClientReceive":	true,
		"subscribe":	false,
		"unsubscribe":	true
	},
	"clients":	[{
			"username":	"admin",
			"textname":	"Dynsec admin user",
			"roles":	[{
					"rolename":	"admin"
				}],
			"password":	"unnNPWb10LNQwbklzvQ5w3VazcvKCe+VBewjxtSpt1M+A9wJ+/WT1oT5i9APjOpOyJZ+hrhd8jespMcFETEfhg==",
			"salt":	"yPDR4q9I/ZGwMDmw",
			"iterations":	101
		}, {
			"username":	"mqfo-bridge",
			"roles":	[{
					"rolename":	"bridge",
					"priority":	3
				}],
			"password":	"IQPubqlEDXE3T4Q35c86gRkLH8983pYWKxsVUT24n/Aare3Yu14FRr2PedDSudDpkkGil/4GoNFgNtNpSufnLw==",
			"salt":	"t2raL4ju0KkVQcU8",
			"iterations":	101
		}, {
			"username":	"mqfo-daemon",
			"clientid":	"daemon-id",
			"roles":	[],
			"password":	"V5BeOHrbNuZomJ19IH8LAW/F50QupuTkByDOZquw75KEVQ6UH7EMakPLZLNf/4OB6FpW2V2Dk1NnBVNAnRwpKQ==",
			"salt":	"UonspVeJ/HoPxx1L",
			"iterations":	101
		}, {
			"username":	"sensor",
			"roles":	[],
			"password":	"pS1rGlKQgRlmbIlLkMpWIYXSLF2BCedKcljF5dZUdb1Ahm0mmwl71TJoUVhSguWgH5U9rV+pjTW85o+RGrQKQQ==",
			"salt":	"qU/AfP1rgQdPszDZ",
			"iterations":	101
		}],
	"groups":	[{
			"groupname":	"sensors",
			"roles":	[{
					"rolename":	"bridge"
				}],
			"clients":	[{
					"username":	"sensor"
				}]
		}],
	"roles":	[{
			"rolename":	"admin",
			"acls":	[{
					"acltype":	"publishClientSend",
					"topic":	"$CONTROL/dynamic-security/#",
					"priority":	0,
					"allow":	true
				}, {
					"acltype":	"publishClientReceive",
					"topic":	"$CONTROL/dynamic-security/#",
					"priority":	0,
					"allow":	true
				}, {
					"acltype":	"publishClientReceive",
					"topic":	"$SYS/#",
					"priority":	0,
					"allow":	true
				}, {
					"acltype":	"publishClientReceive",
					"topic":	"#",
					"priority":	0,
					"allow":	true
				}, {
					"acltype":	"subscribePattern",
					"topic":	"$CONTROL/dynamic-security/#",
					"priority":	0,
					"allow":	true
				}, {
					"acltype":	"subscribePattern",
					"topic":	"$SYS/#",
					"priority":	0,
					"allow":	true
				}, {
					"acltype":	"subscribePattern",
					"topic":	"#",
					"priority":	0,
					"allow":	true
				}, {
					"acltype":	"unsubscribePattern",
					"topic":	"#",
					"priority":	0,
					"allow":	true
				}]
		}, {
			"rolename":	"bridge",
			"acls":	[{
					"acltype":	"publishClientSend",
					"topic":	"home/#",
					"priority":	5,
					"allow":	true
				}, {
					"acltype":	"subscribePattern",
					"topic":	"home/#",
					"priority":	0,
					"allow":	true
				}]
		}]
}`;

const parsed = (): any => JSON.parse(DYNSEC);
const problemsOf = (tree: unknown): string[] => contentProblems('dynsec', JSON.stringify(tree));

test('dynsec: the file the real plugin writes is valid', (t) => {
  t.deepEqual(contentProblems('dynsec', DYNSEC), []);
});

test('dynsec: keys are matched regardless of case, as cJSON does (mosquitto_ctrl init writes "textName")', (t) => {
  const tree = parsed();
  tree.clients[0].textName = tree.clients[0].textname;
  delete tree.clients[0].textname;
  tree.clients[1].UserName = tree.clients[1].username;
  delete tree.clients[1].username;
  t.deepEqual(problemsOf(tree), []);
  t.deepEqual(missingServiceUsers('dynsec', JSON.stringify(tree), USERS), []);
});

test('dynsec: a file that is not a JSON object is one problem', (t) => {
  t.deepEqual(contentProblems('dynsec', ''), ['(json): is empty']);
  t.deepEqual(contentProblems('dynsec', '[]'), ['(json): must be a JSON object, not []']);
  t.regex(contentProblems('dynsec', '{"clients": [}').join(), /^\(json\): is not valid JSON: /);
});

test('dynsec: wrong types and missing fields are reported by path', (t) => {
  const tree = parsed();
  tree.defaultACLAccess.subscribe = 'yes';
  tree.defaultACLAccess.publishClientSnd = true;
  tree.clients[0].roles.push({ rolename: 'missing-role' });
  delete tree.clients[1].salt;
  tree.clients[2].iterations = 0;
  tree.clients[3].password = 'c2hvcnQ=';
  tree.clients.push({ textname: 'nobody' }, 'sensor', { username: 'sensor', disabled: 'no' });
  tree.groups[0].clients.push({ username: 'ghost', priority: 1.5 });
  tree.roles[0].rolename = 7; // the 2.0.11 plugin segfaults on this (strdup of NULL)
  tree.roles[1].acls.push({ acltype: 'publish', topic: 'a/#/b', allow: 'yes' }, { acltype: 'subscribePattern', topic: 'home/#' });
  tree.roles.push({ rolename: 'bridge', acls: {} });
  tree.anonymousGroup = 'nobody';
  t.deepEqual(problemsOf(tree), [
    'defaultACLAccess.subscribe: must be true or false, not "yes"',
    'defaultACLAccess.publishClientSnd: is not one of publishClientSend, publishClientReceive, subscribe, unsubscribe',
    'roles[0].rolename: must be a string, not 7',
    'roles[1].acls[2].acltype: "publish" is not one of publishClientSend, publishClientReceive, subscribeLiteral, subscribePattern, unsubscribeLiteral, unsubscribePattern',
    'roles[1].acls[2].topic: "a/#/b" has # in the wrong place: # must be a whole level and the last one (e.g. home/#)',
    'roles[1].acls[2].allow: must be true or false, not "yes"',
    'roles[1].acls[3].allow: is missing (the plugin would deny)',
    'roles[1].acls[3]: subscribePattern "home/#" is already roles[1].acls[1]',
    'roles[2].rolename: "bridge" is already roles[1].rolename',
    'roles[2].acls: must be a list, not {}',
    'clients[0].roles[0].rolename: "admin" does not exist',
    'clients[0].roles[1].rolename: "missing-role" does not exist',
    'clients[1].salt: is missing',
    'clients[2].iterations: must be a whole number from 1, not 0',
    'clients[3].password: is base64 of 5 bytes, not 64',
    'clients[4].username: is missing',
    'clients[5]: must be an object, not "sensor"',
    'clients[6].username: "sensor" is already clients[3].username',
    'clients[6].disabled: must be a boolean, not "no"',
    'groups[0].clients[1].username: "ghost" does not exist',
    'groups[0].clients[1].priority: must be a whole number from -2147483648, not 1.5',
    'anonymousGroup: "nobody" is not the name of a group',
  ]);
});

test('dynsec: missingServiceUsers looks at the clients\' usernames', (t) => {
  const tree = parsed();
  tree.clients = tree.clients.filter((client: any) => client.username !== 'mqfo-daemon');
  t.deepEqual(missingServiceUsers('dynsec', JSON.stringify(tree), USERS), ['mqfo-daemon']);
  t.deepEqual(missingServiceUsers('dynsec', 'not json', USERS), ['mqfo-bridge', 'mqfo-daemon']);
});

test('dynsec: keepServiceUsers puts back a changed service client and the roles it references', (t) => {
  const incoming = parsed();
  incoming.clients[1].roles = [];
  incoming.clients[1].password = incoming.clients[3].password;
  incoming.roles[1].acls[0].topic = '#';
  incoming.clients.splice(2, 1); // no daemon
  const result = keepServiceUsers('dynsec', JSON.stringify(incoming), DYNSEC, USERS);
  t.deepEqual(result.kept, ['mqfo-bridge', 'mqfo-daemon']);
  const merged = JSON.parse(result.content);
  const local = parsed();
  t.deepEqual(merged.clients, [local.clients[0], local.clients[1], local.clients[3], local.clients[2]]);
  t.deepEqual(merged.roles, local.roles);
  t.deepEqual(contentProblems('dynsec', result.content), []);
});

test('dynsec: keepServiceUsers leaves an incoming file with the same service users as it is, key order aside', (t) => {
  const incoming = parsed();
  incoming.clients[1] = Object.fromEntries(Object.entries(incoming.clients[1] as object).reverse());
  incoming.clients[3].password = incoming.clients[0].password; // not a service user: not ours to keep
  const text = JSON.stringify(incoming);
  t.deepEqual(keepServiceUsers('dynsec', text, DYNSEC, USERS), { content: text, kept: [] });
});

test('dynsec: keepServiceUsers with an unreadable side changes nothing', (t) => {
  t.deepEqual(keepServiceUsers('dynsec', DYNSEC, 'oops', USERS), { content: DYNSEC, kept: [] });
  t.deepEqual(keepServiceUsers('dynsec', 'oops', DYNSEC, USERS), { content: 'oops', kept: [] });
});
