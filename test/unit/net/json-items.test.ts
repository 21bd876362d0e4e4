import { describe, expect, it } from 'vitest';
import { JsonItems } from '../../../src/net/json-items.ts';

/** Feeds `text` in pieces cut at `cuts`; returns the items as handed over and what end() parsed. */
function read(text: string, cuts: readonly number[]): { items: unknown[]; rest: unknown } {
  const items: unknown[] = [];
  const p = new JsonItems((i) => items.push(i));
  let at = 0;
  for (const c of [...cuts, text.length]) {
    p.write(text.slice(at, c));
    at = c;
  }
  return { items, rest: p.end() };
}

/** Every way of cutting `text` in two, and a few in many. */
function cuttings(text: string): number[][] {
  const out: number[][] = [[]];
  for (let i = 1; i < text.length; i++) out.push([i]);
  for (const step of [1, 2, 3, 7])
    out.push(Array.from({ length: Math.ceil(text.length / step) }, (_, i) => i * step));
  return out;
}

// What tries the scanner: quotes and backslashes escaped in keys and values (a backslash before a closing
// quote, a run of them), brackets and braces inside strings, nested arrays, an `items` key that is not
// the list's (inside metadata, inside an item), non-ASCII text, an empty object and array.
const list = {
  kind: 'PodList',
  metadata: { continue: 'eyJ2Ijoi\\"}]', items: ['not', 'these'], remainingItemCount: 3 },
  items: [
    { metadata: { name: 'a', namespace: 'ns-"1"', annotations: { 'x\\': 'ends with a backslash\\' } } },
    { spec: { containers: [{ image: 'r/a:1', args: ['[', '{', ']]', '}'] }], items: [{ k: 1 }] } },
    { data: { '.dockerconfigjson': 'ZXlK\\\\\\"' }, note: 'café ✓ 𝄞', empty: {}, none: [], n: null },
    {},
  ],
  apiVersion: 'v1',
};

describe('JsonItems', () => {
  it('hands over each item as JSON.parse reads it, and the rest with items empty, however the text is cut', () => {
    const text = JSON.stringify(list);
    const want = { items: list.items, rest: { ...list, items: [] } };
    for (const cuts of cuttings(text)) expect(read(text, cuts)).toEqual(want);
  });

  it('reads a list as the API server formats it (whitespace, items last or first)', () => {
    const pretty = JSON.stringify(list, null, 2);
    expect(read(pretty, [17, 300])).toEqual({ items: list.items, rest: { ...list, items: [] } });
    const first = JSON.stringify({ items: list.items, metadata: list.metadata });
    expect(read(first, [5, 6, 7])).toEqual({
      items: list.items,
      rest: { items: [], metadata: list.metadata },
    });
  });

  it('an empty or absent items list hands over nothing', () => {
    expect(read('{"metadata":{},"items":[]}', [])).toEqual({ items: [], rest: { metadata: {}, items: [] } });
    expect(read('{"metadata":{},"items":null}', [])).toEqual({
      items: [],
      rest: { metadata: {}, items: null },
    });
    expect(read('{"kind":"Status"}', [3])).toEqual({ items: [], rest: { kind: 'Status' } });
  });

  it('an item that is not JSON throws when it ends; a text cut short throws at the end', () => {
    expect(() => read('{"items":[{"a":tru}]}', [])).toThrow(SyntaxError);
    expect(() => read('{"items":[{"a":1}', [])).toThrow(SyntaxError);
    expect(() => read('{"metadata":{"continue":"abc', [])).toThrow(SyntaxError);
  });
});
