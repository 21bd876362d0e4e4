const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/**
 * Reads a JSON object whose text arrives in pieces (a list answer: `{"metadata":{…},"items":[{…},…]}`) and
 * hands over each element of its top-level `items` array as soon as that element's text is complete,
 * parsed on its own. Parsing a whole page at once makes every object of it live at the same time — a page
 * of 500 pods is megabytes of short-lived objects, which outlive young-generation collections and wait
 * for a full one; an item parsed alone dies young. The elements must be objects (a Kubernetes list's
 * are). `end()` parses the rest of the object, with `items` empty. Malformed JSON throws (from
 * JSON.parse, at the latest in `end()`).
 */
export class JsonItems {
  readonly #onItem: (item: unknown) => void;
  /** The top level without the items' text; the text of the element being read when in `items`. */
  #outer = '';
  #item = '';
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** In the top-level `items` array (depth 2 is between its elements). */
  #inItems = false;
  /** The last string closed at depth 1, and the last key (a string followed by a colon) at depth 1. */
  #lastString = '';
  #stringStart = -1;
  /** A depth-1 string cut by a piece boundary: its first part. */
  #stringPart = '';
  #key = '';

  constructor(onItem: (item: unknown) => void) {
    this.#onItem = onItem;
  }

  /** The next piece of the text. */
  write(text: string): void {
    const n = text.length;
    if (n === 0) return;
    let from = 0; // where the part of `text` not yet added to #outer or #item begins
    for (let i = this.#inString ? this.#closeString(text, 0) + 1 : 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        this.#inString = true;
        this.#stringStart = this.#depth === 1 ? i + 1 : -1;
        i = this.#closeString(text, i + 1);
      } else if (c === COLON) {
        if (this.#depth === 1) this.#key = this.#lastString;
      } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        this.#depth++;
        if (this.#depth === 2 && c === OPEN_ARRAY && this.#key === 'items') {
          this.#outer += text.slice(from, i + 1);
          from = i + 1;
          this.#inItems = true;
        } else if (this.#inItems && this.#depth === 3) {
          from = i; // an element begins (what lay between elements is commas and spaces)
        }
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        this.#depth--;
        if (this.#inItems && this.#depth === 2) {
          const item = this.#item + text.slice(from, i + 1);
          this.#item = '';
          from = i + 1;
          this.#onItem(JSON.parse(item));
        } else if (this.#inItems && this.#depth === 1) {
          this.#inItems = false;
          from = i; // the closing bracket belongs to #outer
        }
      }
    }
    if (this.#inItems) {
      if (this.#depth >= 3) this.#item += text.slice(from);
    } else this.#outer += text.slice(from);
    if (this.#stringStart >= 0) {
      this.#stringPart += text.slice(this.#stringStart);
      this.#stringStart = 0;
    }
  }

  /**
   * From `at`, inside a string: the index of the string's closing quote (the string is then closed), or
   * the text's length when the string goes on in the next piece. Skips to the quotes (most of a Kubernetes
   * object's text is in its strings), and counts the backslashes before one to know if it is escaped.
   */
  #closeString(text: string, at: number): number {
    let j = at;
    if (this.#escaped) {
      this.#escaped = false;
      j++;
    }
    for (;;) {
      const q = text.indexOf('"', j);
      const end = q < 0 ? text.length : q;
      let k = end;
      while (k > j && text.charCodeAt(k - 1) === BACKSLASH) k--;
      const escaped = (end - k) % 2 === 1;
      if (q < 0) {
        this.#escaped = escaped;
        return text.length;
      }
      if (escaped) {
        j = q + 1;
        continue;
      }
      this.#inString = false;
      if (this.#stringStart >= 0) this.#lastString = this.#stringPart + text.slice(this.#stringStart, q);
      this.#stringStart = -1;
      this.#stringPart = '';
      return q;
    }
  }

  /** The object without its items (`items: []`); throws when the text was not a complete JSON object. */
  end(): unknown {
    return JSON.parse(this.#outer);
  }
}
