/** UTF-8 without TextEncoder (the core layers compile without DOM or Node types). */
export function utf8Encode(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return Uint8Array.from(out);
}

/**
 * The string `b` encodes, or null when it is not UTF-8 (overlong forms, code points past
 * U+10FFFF). Surrogates pass, as utf8Encode writes the lone ones a JavaScript string may hold.
 */
export function utf8Decode(b: Uint8Array): string | null {
  let s = '';
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    let cp: number;
    let n: number;
    if (c < 0x80) [cp, n] = [c, 1];
    else if (c >= 0xc2 && c < 0xe0) [cp, n] = [c & 0x1f, 2];
    else if (c >= 0xe0 && c < 0xf0) [cp, n] = [c & 0x0f, 3];
    else if (c >= 0xf0 && c < 0xf5) [cp, n] = [c & 0x07, 4];
    else return null;
    if (i + n > b.length) return null;
    for (let k = 1; k < n; k++) {
      const cc = b[i + k]!;
      if ((cc & 0xc0) !== 0x80) return null;
      cp = (cp << 6) | (cc & 0x3f);
    }
    const min = n === 1 ? 0 : n === 2 ? 0x80 : n === 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10ffff) return null;
    s += String.fromCodePoint(cp);
    i += n;
  }
  return s;
}
