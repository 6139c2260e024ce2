// Message text (room/text.js): a Markdown subset and links, from plain text to DOM
// nodes built with createElement and text nodes only, hostile input included.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MAX_DEPTH, parseBody, plainPreview, renderBody } from '../room/text.js';

/** A document double that records what is built and refuses any HTML parsing. */
function fakeDocument() {
  class Node {
    constructor(tag) {
      this.tag = tag;
      this.attrs = {};
      this.children = [];
      this.className = '';
    }

    append(...kids) {
      this.children.push(...kids);
    }

    setAttribute(k, v) {
      this.attrs[k] = String(v);
    }

    set innerHTML(_) {
      throw new Error('innerHTML used');
    }

    set outerHTML(_) {
      throw new Error('outerHTML used');
    }

    insertAdjacentHTML() {
      throw new Error('insertAdjacentHTML used');
    }
  }
  return {
    createDocumentFragment: () => new Node('#fragment'),
    createElement: (tag) => new Node(tag),
    createTextNode: (text) => ({ text: String(text) }),
  };
}

const esc = (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The built nodes as HTML text (escaped as a browser would serialize them). */
function html(node) {
  if ('text' in node) return esc(node.text);
  const inner = node.children.map(html).join('');
  if (node.tag === '#fragment') return inner;
  const attrs = Object.entries(node.attrs).map(([k, v]) => ` ${k}="${v.replace(/"/g, '&quot;')}"`).join('');
  const cls = node.className ? ` class="${node.className}"` : '';
  return `<${node.tag}${cls}${attrs}>${inner}</${node.tag}>`;
}

const render = (text, o = {}) => html(renderBody(text, { doc: fakeDocument(), ...o }));
const LINK = 'class="msg__link" rel="noopener noreferrer nofollow" target="_blank"';
const a = (href, text = href) => `<a ${LINK.replace('class="msg__link" ', 'class="msg__link" href="' + href + '" ')}>${text}</a>`;

test('plain text is one paragraph of text, newlines kept', () => {
  assert.equal(render('hello\nworld'), '<p>hello\nworld</p>');
  assert.equal(render(''), '');
});

test('bold, italics with * and _, inline code', () => {
  assert.equal(render('**bold** and *it* and _it_ and `x < y`'),
    '<p><strong>bold</strong> and <em>it</em> and <em>it</em> and <code>x &lt; y</code></p>');
  assert.equal(render('**bold _and it_**'), '<p><strong>bold <em>and it</em></strong></p>');
});

test('markers inside words, with spaces, or unbalanced stay as typed', () => {
  assert.equal(render('snake_case_name'), '<p>snake_case_name</p>');
  assert.equal(render('2 * 3 * 4'), '<p>2 * 3 * 4</p>');
  assert.equal(render('**not closed'), '<p>**not closed</p>');
  assert.equal(render('*a **b* c**'), '<p><em>a **b</em> c**</p>');
  assert.equal(render('__init__ and ***x***'), '<p>__init__ and ***x***</p>');
  assert.equal(render('`never closed'), '<p>`never closed</p>');
  assert.equal(render('`` a ` b ``'), '<p><code> a ` b </code></p>');
});

test('code keeps markers and links as text', () => {
  assert.equal(render('`**x** https://a.example`'), '<p><code>**x** https://a.example</code></p>');
  assert.equal(render('```\nline *1*\n<b>2</b>\n```'), '<pre><code>line *1*\n&lt;b&gt;2&lt;/b&gt;</code></pre>');
  assert.equal(render('before\n```js\nx = 1\n```\nafter'),
    '<p>before</p><pre><code>x = 1</code></pre><p>after</p>');
});

test('an unclosed fence is not a code block', () => {
  assert.equal(render('```\nno end'), '<p>```\nno end</p>');
});

test('quotes: consecutive > lines, inline markup inside', () => {
  assert.equal(render('> said **this**\n> and that\nreply'),
    '<blockquote>said <strong>this</strong>\nand that</blockquote><p>reply</p>');
});

test('http and https addresses become links that open safely in a new tab', () => {
  assert.equal(render('see https://example.com/a?b=1&c=2.'),
    `<p>see ${a('https://example.com/a?b=1&c=2', 'https://example.com/a?b=1&amp;c=2')}.</p>`);
  assert.equal(render('(http://example.com/x_(y))'),
    `<p>(${a('http://example.com/x_(y)')})</p>`);
  assert.equal(render('**https://example.com**'), `<p><strong>${a('https://example.com/', 'https://example.com')}</strong></p>`);
});

test('no other scheme is ever a link', () => {
  for (const body of [
    'javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,<script>1</script>',
    'vbscript:x', 'file:///etc/passwd', '//evil.example', 'ftp://x.example',
    '[click](javascript:alert(1))', 'xhttps://evil.example', 'http://', 'https://:80',
  ]) {
    const out = render(body);
    assert.doesNotMatch(out, /<a /, body);
  }
});

test('html in a body is text, never markup', () => {
  const evil = '<script>alert(1)</script><img src=x onerror=alert(2)> <a href="javascript:x">y</a>';
  assert.equal(render(evil), `<p>${esc(evil)}</p>`);
  // A link's text and href come from the URL parser: quotes and brackets cannot break out.
  const out = renderBody('https://example.com/"><script>', { doc: fakeDocument() });
  const link = out.children[0].children[0];
  assert.equal(link.tag, 'a');
  assert.equal(link.attrs.href, 'https://example.com/');
  assert.equal(out.children[0].children[1].text, '"><script>');
});

test('mentions are marked, mine apart; emails and unknown names are not', () => {
  assert.equal(render('@bob and @alice.', { me: 'Alice' }),
    '<p><span class="mention">@bob</span> and <span class="mention mention--me">@alice</span>.</p>');
  assert.equal(render('mail bob@example.com'), '<p>mail bob@example.com</p>');
  assert.equal(render('@nobody', { isUser: () => false }), '<p>@nobody</p>');
});

test('nesting deeper than the bound stays as typed', () => {
  const deep = `${'*a _b '.repeat(10)}x${' b_ a*'.repeat(10)}`;
  let depth = 0;
  const walk = (nodes, d) => {
    for (const n of nodes) {
      if (n.children) {
        depth = Math.max(depth, d + 1);
        walk(n.children, d + 1);
      }
    }
  };
  walk(parseBody(deep)[0].children, 0);
  assert.ok(depth <= MAX_DEPTH, depth);
});

test('huge and hostile bodies are parsed in linear time', () => {
  const cases = [
    '*a '.repeat(40000),
    '**'.repeat(1).concat('_x '.repeat(40000)),
    '`'.repeat(1) + 'x`` '.repeat(30000),
    '```\n'.repeat(30000),
    'http://a.example/'.repeat(8000),
    '> *'.repeat(30000),
    '@'.repeat(100000),
    '(https://x.example/' + ')'.repeat(30000),
    `${'*_'.repeat(30000)}${'_*'.repeat(30000)}`,
  ];
  for (const body of cases) {
    const text = body.slice(0, 19999);
    const start = process.hrtime.bigint();
    renderBody(text, { doc: fakeDocument() });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    assert.ok(ms < 250, `${JSON.stringify(text.slice(0, 12))}… took ${ms} ms`);
  }
  // Past MAX_RICH it is plain text at once.
  const big = '*x* '.repeat(100000);
  assert.deepEqual(parseBody(big), [{ type: 'p', children: [{ type: 'text', text: big }] }]);
});

test('a preview is one trimmed line', () => {
  assert.equal(plainPreview('  a\n\nb  '), 'a b');
  assert.equal(plainPreview('x'.repeat(200), 10), `${'x'.repeat(9)}…`);
});
