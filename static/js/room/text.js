/**
 * room/text.js: a message body, from plain text to safe DOM nodes.
 *
 * A small Markdown subset people type in chat: **bold**, _italics_ and *italics*,
 * `inline code`, ``` fenced code blocks ```, > quotes; http(s) links made clickable;
 * @mentions marked. Nothing else: no HTML, no images, no [text](url) links (a link shows
 * the address it goes to).
 *
 * Two steps, both linear in the length of the text (a hostile body cannot stall the
 * page): parseBody() turns text into a small tree of plain objects (no DOM, tested under
 * node), and renderBody() builds it with createElement and text nodes only; a user's
 * text never reaches innerHTML. A link's address is checked with the URL parser: only
 * http: and https: become links, opened in a new tab with rel="noopener noreferrer
 * nofollow".
 */

/** Longer than this, a body is shown as plain text (the server's default limit is 4000). */
export const MAX_RICH = 20000;
/** Emphasis nested deeper than this stays as typed. */
export const MAX_DEPTH = 6;

const LINK_REL = 'noopener noreferrer nofollow';
const FENCE_OPEN = /^ {0,3}```[^`]*$/;
const FENCE_CLOSE = /^ {0,3}```\s*$/;
const NAME = /[\p{L}\p{N}_.+-]/u;
const WORD = /[\p{L}\p{N}_]/u;
const SPACE = /\s/u;
const URL_STOP = /[\s<>"`]/u;
const URL_TRAIL = /[.,:;!?'"*_]/;

// ASCII first: the Unicode regexes cost ten times more per character.
function isSpace(c) {
  if (c === undefined) return true;
  const x = c.charCodeAt(0);
  if (x < 128) return x === 32 || (x >= 9 && x <= 13);
  return SPACE.test(c);
}

function isWord(c) {
  if (c === undefined) return false;
  const x = c.charCodeAt(0);
  if (x < 128) return (x >= 48 && x <= 57) || (x >= 65 && x <= 90) || (x >= 97 && x <= 122) || x === 95;
  return WORD.test(c);
}

/**
 * The blocks of a body: `{type: 'p' | 'quote', children: inline[]}` and
 * `{type: 'pre', text}`. Inline nodes: `{type: 'text', text}`, `{type: 'code', text}`,
 * `{type: 'link', href, text}`, `{type: 'mention', name}`,
 * `{type: 'strong' | 'em', children}`.
 */
export function parseBody(text) {
  if (typeof text !== 'string' || text === '') return [];
  if (text.length > MAX_RICH) return [{ type: 'p', children: [{ type: 'text', text }] }];
  const lines = text.split('\n');
  // The next fence line after each line, found once (an unclosed fence must not make
  // every later line search to the end again).
  const nextFence = new Array(lines.length + 1).fill(-1);
  for (let i = lines.length - 1; i >= 0; i -= 1) {
    nextFence[i] = FENCE_CLOSE.test(lines[i + 1] ?? 'x') ? i + 1 : nextFence[i + 1];
  }
  const blocks = [];
  let para = [];
  const endPara = () => {
    if (para.length === 0) return;
    blocks.push({ type: 'p', children: parseInline(para.join('\n')) });
    para = [];
  };
  for (let i = 0; i < lines.length;) {
    const line = lines[i];
    if (FENCE_OPEN.test(line) && nextFence[i] > i) {
      endPara();
      blocks.push({ type: 'pre', text: lines.slice(i + 1, nextFence[i]).join('\n') });
      i = nextFence[i] + 1;
    } else if (line.startsWith('>')) {
      endPara();
      const quoted = [];
      for (; i < lines.length && lines[i].startsWith('>'); i += 1) quoted.push(lines[i].replace(/^> ?/, ''));
      blocks.push({ type: 'quote', children: parseInline(quoted.join('\n')) });
    } else {
      para.push(line);
      i += 1;
    }
  }
  endPara();
  return blocks;
}

/** Backtick runs: start -> {len, close} with close the start of the next run as long, or -1. */
function backtickRuns(s) {
  const runs = [];
  for (let i = 0; i < s.length;) {
    if (s[i] !== '`') {
      i += 1;
      continue;
    }
    let j = i;
    while (j < s.length && s[j] === '`') j += 1;
    runs.push({ start: i, len: j - i, close: -1 });
    i = j;
  }
  const lastOfLen = new Map();
  for (let k = runs.length - 1; k >= 0; k -= 1) {
    const r = runs[k];
    if (lastOfLen.has(r.len)) r.close = lastOfLen.get(r.len);
    lastOfLen.set(r.len, r.start);
  }
  return new Map(runs.map((r) => [r.start, r]));
}

/** The end of an http(s) URL starting at i (exclusive) and its href, or null. */
function urlAt(s, i) {
  const head = s.slice(i, i + 8).toLowerCase();
  if (!head.startsWith('http://') && !head.startsWith('https://')) return null;
  let end = i;
  while (end < s.length && !URL_STOP.test(s[end])) end += 1;
  // Punctuation after a link is the sentence's, and so is a ")" that opens nowhere in it.
  let opens = 0;
  let closes = 0;
  for (let k = i; k < end; k += 1) {
    if (s[k] === '(') opens += 1;
    else if (s[k] === ')') closes += 1;
  }
  for (;;) {
    const last = s[end - 1];
    if (URL_TRAIL.test(last)) {
      end -= 1;
    } else if (last === ')' && closes > opens) {
      end -= 1;
      closes -= 1;
    } else {
      break;
    }
  }
  const raw = s.slice(i, end);
  let url;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) return null;
  return { end, href: url.href, text: raw };
}

/** `@name` at i (the server's rule: no name character or @ before it), or null. */
function mentionAt(s, i) {
  const before = s[i - 1];
  if (before !== undefined && (isWord(before) || before === '@')) return null;
  let end = i + 1;
  while (end < s.length && NAME.test(s[end])) end += 1;
  while (end > i + 1 && (s[end - 1] === '.' || s[end - 1] === '-')) end -= 1;
  if (end === i + 1) return null;
  return { end, name: s.slice(i + 1, end) };
}

/** The inline nodes of a paragraph or quote. */
export function parseInline(s) {
  const toks = tokenize(s);
  pairDelimiters(toks);
  return buildTree(toks);
}

function tokenize(s) {
  const toks = [];
  const runs = backtickRuns(s);
  let buf = '';
  const push = (tok) => {
    if (buf) toks.push({ kind: 'text', text: buf });
    buf = '';
    toks.push(tok);
  };
  for (let i = 0; i < s.length;) {
    const c = s[i];
    if (c === '`') {
      const run = runs.get(i);
      if (run.close >= 0) {
        push({ kind: 'node', node: { type: 'code', text: s.slice(i + run.len, run.close) } });
        i = run.close + run.len;
      } else {
        buf += s.slice(i, i + run.len);
        i += run.len;
      }
      continue;
    }
    if ((c === 'h' || c === 'H') && !isWord(s[i - 1])) {
      const url = urlAt(s, i);
      if (url) {
        push({ kind: 'node', node: { type: 'link', href: url.href, text: url.text } });
        i = url.end;
        continue;
      }
    }
    if (c === '@') {
      const m = mentionAt(s, i);
      if (m) {
        push({ kind: 'node', node: { type: 'mention', name: m.name } });
        i = m.end;
        continue;
      }
    }
    if (c === '*' || c === '_') {
      let j = i;
      while (j < s.length && s[j] === c) j += 1;
      const len = j - i;
      const before = s[i - 1];
      const after = s[j];
      let open = !isSpace(after);
      let close = !isSpace(before);
      // snake_case_names and 2*3*4 stay as typed: `_` only at word edges.
      if (c === '_') {
        open = open && !isWord(before);
        close = close && !isWord(after);
      }
      const usable = c === '*' ? len <= 2 : len === 1;
      if (usable && (open || close)) push({ kind: 'delim', key: c + len, text: s.slice(i, j), open, close });
      else buf += s.slice(i, j);
      i = j;
      continue;
    }
    buf += c;
    i += 1;
  }
  if (buf) toks.push({ kind: 'text', text: buf });
  return toks;
}

/**
 * Pair emphasis markers: a closer takes the nearest opener of its kind; openers of other
 * kinds between them stay literal (so pairs always nest). Each opener is pushed and
 * popped once, and a closer looks back only when an opener of its kind is open: linear.
 */
function pairDelimiters(toks) {
  const stack = [];
  const open = new Map();
  for (let idx = 0; idx < toks.length; idx += 1) {
    const t = toks[idx];
    if (t.kind !== 'delim') continue;
    if (t.close && (open.get(t.key) ?? 0) > 0) {
      let k = stack.length - 1;
      while (toks[stack[k]].key !== t.key) k -= 1;
      const opener = toks[stack[k]];
      opener.pair = idx;
      t.pair = stack[k];
      for (const dropped of stack.splice(k)) open.set(toks[dropped].key, open.get(toks[dropped].key) - 1);
      continue;
    }
    if (t.open) {
      stack.push(idx);
      open.set(t.key, (open.get(t.key) ?? 0) + 1);
    }
  }
}

/** Tokens to nodes without recursion; pairs nested deeper than MAX_DEPTH stay literal. */
function buildTree(toks) {
  const root = { children: [] };
  const stack = [root];
  const literal = new Set();
  const addText = (text) => {
    const kids = stack[stack.length - 1].children;
    const last = kids[kids.length - 1];
    if (last?.type === 'text') last.text += text;
    else kids.push({ type: 'text', text });
  };
  for (let idx = 0; idx < toks.length; idx += 1) {
    const t = toks[idx];
    if (t.kind === 'text') {
      addText(t.text);
    } else if (t.kind === 'node') {
      stack[stack.length - 1].children.push(t.node);
    } else if (t.pair === undefined || literal.has(t.pair)) {
      addText(t.text);
    } else if (t.pair > idx) {
      if (stack.length > MAX_DEPTH) {
        literal.add(idx);
        addText(t.text);
      } else {
        const node = { type: t.key === '*2' ? 'strong' : 'em', children: [] };
        stack[stack.length - 1].children.push(node);
        stack.push(node);
      }
    } else {
      stack.pop();
    }
  }
  return root.children;
}

const INLINE_TAG = { strong: 'strong', em: 'em', code: 'code' };

/**
 * The body as DOM nodes in a fragment: createElement, setAttribute and text nodes only.
 * @param {string} text the message body (plain text, as the server stores it).
 * @param {object} [o] `doc`: the document (injectable for tests); `me`: my username,
 *   whose mentions are marked as such; `isUser(name)`: whether a name is a known user
 *   (unknown names are not marked; default: every name).
 */
export function renderBody(text, { doc = globalThis.document, me = null, isUser = () => true } = {}) {
  const frag = doc.createDocumentFragment();
  const mine = typeof me === 'string' ? me.toLowerCase() : null;
  const inline = (parent, nodes, depth = 0) => {
    for (const n of nodes) {
      if (n.type === 'text') {
        parent.append(doc.createTextNode(n.text));
      } else if (n.type === 'link') {
        const a = doc.createElement('a');
        a.setAttribute('href', n.href);
        a.setAttribute('rel', LINK_REL);
        a.setAttribute('target', '_blank');
        a.className = 'msg__link';
        a.append(doc.createTextNode(n.text));
        parent.append(a);
      } else if (n.type === 'mention') {
        if (!isUser(n.name)) {
          parent.append(doc.createTextNode(`@${n.name}`));
          continue;
        }
        const span = doc.createElement('span');
        span.className = n.name.toLowerCase() === mine ? 'mention mention--me' : 'mention';
        span.append(doc.createTextNode(`@${n.name}`));
        parent.append(span);
      } else if (n.type === 'code') {
        const code = doc.createElement('code');
        code.append(doc.createTextNode(n.text));
        parent.append(code);
      } else if (INLINE_TAG[n.type] && depth < MAX_DEPTH) {
        const node = doc.createElement(INLINE_TAG[n.type]);
        inline(node, n.children, depth + 1);
        parent.append(node);
      }
    }
  };
  for (const block of parseBody(text)) {
    if (block.type === 'pre') {
      const pre = doc.createElement('pre');
      const code = doc.createElement('code');
      code.append(doc.createTextNode(block.text));
      pre.append(code);
      frag.append(pre);
    } else {
      const node = doc.createElement(block.type === 'quote' ? 'blockquote' : 'p');
      inline(node, block.children);
      frag.append(node);
    }
  }
  return frag;
}

/** The body as one line of plain text (a reply's preview, a search result): markers kept. */
export function plainPreview(text, max = 140) {
  const one = String(text ?? '').replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
