/**
 * What the three synced formats share: the line handling (so a file nothing changed in is given
 * back as it was) and the MQTT string rules that mosquitto 2.0.11 applies to user names, topics
 * and base64 fields. Pure.
 */
import { Buffer } from 'node:buffer';

/** One synced format: its checks, whether it holds a user, and the merge that keeps the service users. */
export interface Format {
  problems(text: string): string[];
  has(text: string, user: string): boolean;
  keep(incoming: string, local: string, users: readonly string[]): { content: string; kept: string[] };
}

/** The lines of `text` without their ends (\n or \r\n); a final line end does not start another line. */
export function linesOf(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** `lines` as a file, or `original` itself when nothing changed (a sync then rewrites nothing). */
export function fileOf(original: string, lines: readonly string[]): string {
  const before = linesOf(original);
  if (before.length === lines.length && before.every((line, index) => line === lines[index])) return original;
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

export function isBlank(line: string): boolean {
  return /^[ \t]*$/.test(line);
}

export const q = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

// Characters an MQTT string may not hold (MQTT 5 §1.5.4), which mosquitto_validate_utf8 refuses
// in a CONNECT: a user name or topic holding one can never be used by a client.
const NOT_IN_MQTT = /[\p{Cc}\p{Cs}\p{Noncharacter_Code_Point}]/u;

/** "contains U+0009 (tab)" for the first character MQTT forbids in `text`, or undefined. */
export function forbiddenCharacter(text: string): string | undefined {
  const found = NOT_IN_MQTT.exec(text)?.[0];
  if (found === undefined) return undefined;
  const code = `U+${(found.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  return `contains ${code}${found === '\t' ? ' (tab)' : ''}, which MQTT does not allow`;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Why `text` is not standard base64 of exactly `bytes` bytes (mosquitto refuses other salt and hash sizes). */
export function base64Problem(text: string, bytes: number): string | undefined {
  if (!BASE64.test(text)) return 'is not base64';
  const length = Buffer.from(text, 'base64').length;
  return length === bytes ? undefined : `is base64 of ${length} bytes, not ${bytes}`;
}

// mosquitto's sub-topic check (lib/util_topic.c) with the broker's TOPIC_HIERARCHY_LIMIT. Not
// topicPatternProblem from the config schema: ACL topics may hold spaces and start with $.
const TOPIC_BYTES = 65_535;
const TOPIC_LEVELS = 200;

/** Why mosquitto 2.0.11 refuses `topic` as an ACL topic, or undefined. */
export function aclTopicProblem(topic: string): string | undefined {
  if (topic.length === 0) return 'is empty';
  const character = forbiddenCharacter(topic);
  if (character) return character;
  const levels = topic.split('/');
  for (const [index, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || index !== levels.length - 1)) {
      return 'has # in the wrong place: # must be a whole level and the last one (e.g. home/#)';
    }
    if (level.includes('+') && level !== '+') return 'has + in the wrong place: + must be a whole level (e.g. home/+/state)';
  }
  if (Buffer.byteLength(topic) > TOPIC_BYTES) return `is longer than ${TOPIC_BYTES} bytes`;
  if (levels.length - 1 > TOPIC_LEVELS) return `has more than ${TOPIC_LEVELS} "/", mosquitto's limit`;
  return undefined;
}

/** Why `name` cannot be an MQTT user name, or undefined. */
export function userNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name) > 65_535) return 'is longer than 65535 bytes';
  return forbiddenCharacter(name);
}
