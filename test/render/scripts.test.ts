/**
 * The ucarp scripts run as root: what reaches them from cluster.yaml is checked (test/config/
 * corpus.test.ts) and, as a second wall, single-quoted. These tests show the quoting is real.
 */
import { readdirSync } from 'node:fs';
import test from 'ava';
import { execa } from 'execa';
import { parseConfig } from '../../src/config/load.js';
import { createTemplateEngine, renderNode, shellQuote } from '../../src/render/render.js';
import { baseDocument, EXAMPLE_ENV, yamlOf } from '../helpers/config.js';
import { scratchDir } from '../helpers/scratch.js';

const HOSTILE = ["/run/x;touch${IFS}/tmp/PWNED;#", '/run/$(id>/tmp/x)', "it's", "'", "a'b'c", '`reboot`', 'a\nb', '"$HOME"', '\\', '', '%i', '*'];

test('shell_quote makes any value one word that sh reads back unchanged, running nothing', async (t) => {
  const dir = scratchDir('quote');
  for (const value of HOSTILE) {
    // The value as a script would hold it: var=<quoted>; then print it back.
    const script = `cd ${shellQuote(dir)} || exit 1\nvalue=${shellQuote(value)}\nprintf '%s' "$value"\n`;
    const result = await execa('sh', ['-c', script], { stripFinalNewline: false });
    t.is(result.stdout, value, JSON.stringify(value));
  }
  t.deepEqual(readdirSync(dir), [], 'nothing ran: no file was made');
});

function renderUcarp(daemon: Record<string, string>) {
  const loaded = parseConfig(yamlOf({ ...baseDocument(), failover: { driver: 'ucarp' }, daemon }), EXAMPLE_ENV);
  const files = renderNode(createTemplateEngine(), loaded, loaded.config.nodes[0]!, '0.0.0-test');
  return new Map(files.map((file) => [file.name, file.content]));
}

test('vip-up.sh and vip-down.sh quote every value from the config, and sh -n accepts them', async (t) => {
  const files = renderUcarp({ run_dir: '/run/mqfo+test@1/x.y-z', config_dir: '/etc/mqfo_test' });
  for (const name of ['vip-up.sh', 'vip-down.sh']) {
    const script = files.get(name) ?? '';
    t.regex(script, /^fifo='\/run\/mqfo\+test@1\/x\.y-z\/vrrp\.fifo'$/m, name);
    t.regex(script, /^vip='192\.168\.1\.50\/24'$/m, name);
    t.regex(script, /^interface='eth0'$/m, name);
    t.regex(script, /^line='INSTANCE "mqfo_home" (MASTER|BACKUP) 150'$/m, name);
    // Every use of a value is of a quoted variable: no value is pasted into a command line.
    t.notRegex(script, /^(?!\s*#)[^=]*(192\.168|\/run\/|eth0)/m, name);
    const check = await execa('sh', ['-n'], { input: script, reject: false });
    t.is(check.exitCode, 0, `${name}: ${check.stderr}`);
  }
});

test('a hostile run_dir never reaches a script: the config is refused first', (t) => {
  t.throws(() => renderUcarp({ run_dir: '/run/x;touch${IFS}/tmp/PWNED;#' }), { message: /daemon\.run_dir .*holds characters a path here cannot have/ });
});
