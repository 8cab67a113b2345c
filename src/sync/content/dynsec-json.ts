/**
 * Reading the dynamic-security plugin's JSON the way the plugin does: cJSON, keys matched without
 * regard to case. Shared by the checks and the merge. Pure.
 */
import { q } from './common.js';

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The parsed file, or why it is not a JSON object. */
export function parseDynsec(text: string): JsonObject | string {
  // The plugin loads an empty file as an empty config: no clients, so nobody could log in.
  if (text.trim() === '') return 'is empty';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `is not valid JSON: ${(error as Error).message}`;
  }
  return isObject(value) ? value : `must be a JSON object, not ${q(value)}`;
}

/** The key of `object` that the plugin reads for `key`: cJSON_GetObjectItem ignores case, and mosquitto_ctrl writes "textName". */
export function keyOf(object: JsonObject, key: string): string | undefined {
  return Object.keys(object).find((name) => name.toLowerCase() === key.toLowerCase());
}

export function field(object: JsonObject, key: string): unknown {
  const found = keyOf(object, key);
  return found === undefined ? undefined : object[found];
}

/** The names in a list, ahead of checking it, for the references into it. */
export function namesIn(root: JsonObject, list: string, key: string): Set<string> {
  const items = field(root, list);
  if (!Array.isArray(items)) return new Set();
  return new Set(items.filter(isObject).map((item) => field(item, key)).filter((name): name is string => typeof name === 'string'));
}
