/**
 * The operator's planned switchover, `<state_dir>/leader.json`: `{"promote":"node2"}`,
 * `{"demote":"node1"}` or `{}` (none). `mosquitto-failover promote`/`demote` write it on one node
 * and the sync carries it to every node like the broker files (last write wins by version), so a
 * promote survives any daemon's restart until `promote --clear`. It holds no service users: the
 * merge gives the text back as it came. Pure.
 */
import { NAME } from '../../config/schema.js';
import type { Preference } from '../../node-state.js';
import { q, type Format } from './common.js';
import { isObject } from './dynsec-json.js';

/** The preference in `text`, or every problem with it. */
export function parseLeader(text: string): { preference: Preference } | { problems: string[] } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problems: [`is not valid JSON: ${(error as Error).message}`] };
  }
  if (!isObject(value)) return { problems: [`must be a JSON object, not ${q(value)}`] };
  const problems = Object.keys(value)
    .filter((key) => key !== 'promote' && key !== 'demote')
    .map((key) => `${key}: unknown key (promote or demote)`);
  for (const key of ['promote', 'demote'] as const) {
    const name = value[key];
    if (name !== undefined && (typeof name !== 'string' || !NAME.test(name))) problems.push(`${key}: ${q(name)} is not a node name`);
  }
  if (value.promote !== undefined && value.demote !== undefined) problems.push('promote and demote: at most one of them');
  if (problems.length > 0) return { problems };
  return { preference: { ...(typeof value.promote === 'string' ? { promote: value.promote } : {}), ...(typeof value.demote === 'string' ? { demote: value.demote } : {}) } };
}

/** The file's text for `preference`: one line of JSON. */
export function leaderText(preference: Preference): string {
  return `${JSON.stringify(preference)}\n`;
}

export const leader: Format = {
  problems: (text) => {
    const parsed = parseLeader(text);
    return 'problems' in parsed ? parsed.problems : [];
  },
  has: () => true,
  keep: (incoming) => ({ content: incoming, kept: [] }),
};
