/**
 * The hint: one line of keepalived's vrrp_notify_fifo (keepalived.conf(5)), which the ucarp
 * up/down scripts imitate: `INSTANCE "mqfo_lab" MASTER 200`. Pure.
 */

export const HINT_STATES = ['MASTER', 'BACKUP', 'FAULT', 'STOP'] as const;
export type HintState = (typeof HINT_STATES)[number];

export interface Hint {
  state: HintState;
  priority: number;
}

const LINE = /^INSTANCE "([^"]+)" (MASTER|BACKUP|FAULT|STOP|DELETED)(?: (\d+))?$/;

/**
 * The hint in `line` for `instance`, or undefined for lines about other instances, groups
 * (`GROUP "…"`) or anything else keepalived may write. keepalived 2.2 writes DELETED when an
 * instance is removed by a reload: that is a STOP as far as the VIP goes.
 */
export function parseHint(line: string, instance: string): Hint | undefined {
  const match = LINE.exec(line.trim());
  if (!match || match[1] !== instance) return undefined;
  const state = match[2] === 'DELETED' ? 'STOP' : (match[2] as HintState);
  return { state, priority: Number(match[3] ?? 0) };
}
