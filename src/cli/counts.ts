/** A number of events as words: `1 event`, `2,202 events` (before, `1 events`), for `stream`, `scan` and `tap`. */
export function eventsText(n: number): string {
  return `${n.toLocaleString('en-US')} event${n === 1 ? '' : 's'}`;
}
