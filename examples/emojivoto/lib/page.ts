/**
 * The voting page: one self-contained HTML document with inline CSS and JS (no bundler).
 * `/` shows the ballot, a click votes through `/api/vote`, `/leaderboard` shows
 * `/api/leaderboard`. The doughnut's failure shows as an error page, as in the original.
 */

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The favicon: a ballot box emoji in SVG. */
export function faviconSvg(): string {
  return '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><text y=".9em" font-size="90">\u{1F5F3}</text></svg>';
}

const CSS = `
  * { box-sizing: border-box; }
  body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #f6f7fb; color: #1c1f2b; }
  header { background: #2f3a5f; color: #fff; padding: 1.25rem 1rem; text-align: center; }
  header h1 { margin: 0; font-size: 1.6rem; letter-spacing: .08em; }
  header p { margin: .4rem 0 0; opacity: .85; }
  nav { margin-top: .75rem; }
  nav a { color: #ffd166; margin: 0 .6rem; text-decoration: none; font-weight: 600; }
  nav a[aria-current="page"] { text-decoration: underline; }
  .motd { background: #ffd166; text-align: center; padding: .4rem; font-weight: 600; }
  .motd:empty { display: none; }
  main { max-width: 960px; margin: 1.5rem auto; padding: 0 1rem; }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(4.5rem, 1fr)); gap: .6rem; }
  .emoji { font-size: 2.4rem; line-height: 1; padding: .6rem 0; border: 2px solid transparent; border-radius: .8rem; background: #fff; cursor: pointer; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
  .emoji:hover, .emoji:focus { border-color: #2f3a5f; outline: none; transform: scale(1.06); }
  .panel { background: #fff; border-radius: .8rem; padding: 2rem; text-align: center; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
  .panel .big { font-size: 5rem; }
  .panel.error { border-top: 6px solid #d1495b; }
  .button { display: inline-block; margin: .5rem; padding: .6rem 1.2rem; border-radius: 2rem; background: #2f3a5f; color: #fff; text-decoration: none; border: 0; font-size: 1rem; cursor: pointer; }
  table { width: 100%; border-collapse: collapse; background: #fff; border-radius: .8rem; overflow: hidden; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
  th, td { padding: .5rem 1rem; text-align: left; border-bottom: 1px solid #eceef4; }
  td.e { font-size: 1.8rem; width: 4rem; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
  .muted { color: #6b7080; }
`;

// Runs in the browser: plain ES2017, DOM built with textContent only (no HTML injection).
const SCRIPT = `
(function () {
  'use strict';
  var main = document.getElementById('main');

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'onclick') node.addEventListener('click', attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  function show(node) {
    main.replaceChildren(node);
  }

  function link(href, text) {
    return el('a', { href: href, class: 'button', text: text, onclick: function (ev) { ev.preventDefault(); go(href); } });
  }

  async function api(path) {
    var res = await fetch(path, { headers: { accept: 'application/json' } });
    var text = await res.text();
    var body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    if (!res.ok) throw new Error((body && body.error) || (res.status + ' ' + res.statusText));
    return body;
  }

  function failure(title, err) {
    show(el('div', { class: 'panel error' }, [
      el('div', { class: 'big', text: '\\u{1F6A7}' }),
      el('h2', { text: title }),
      el('p', { class: 'muted', text: String(err && err.message || err) }),
      link('/', 'Pick another one'),
      link('/leaderboard', 'View the leaderboard'),
    ]));
  }

  async function vote(emoji) {
    try {
      await api('/api/vote?choice=' + encodeURIComponent(emoji.shortcode));
      show(el('div', { class: 'panel' }, [
        el('div', { class: 'big', text: emoji.unicode }),
        el('h2', { text: 'Your vote has been counted!' }),
        el('p', { class: 'muted', text: emoji.shortcode }),
        link('/', 'Pick another one'),
        link('/leaderboard', 'View the leaderboard'),
      ]));
    } catch (err) {
      failure('We couldn\\u2019t process your vote for ' + emoji.unicode, err);
    }
  }

  async function ballot() {
    show(el('p', { class: 'muted', text: 'Loading the ballot\\u2026' }));
    try {
      var list = await api('/api/list');
      show(el('div', {}, [
        el('p', { text: 'Tap to vote for your favourite emoji below.' }),
        el('div', { class: 'grid' }, list.map(function (e) {
          return el('button', { class: 'emoji', title: e.shortcode, 'aria-label': e.shortcode, 'data-shortcode': e.shortcode, text: e.unicode, onclick: function () { vote(e); } });
        })),
      ]));
    } catch (err) {
      failure('The ballot could not be loaded', err);
    }
  }

  async function leaderboard() {
    show(el('p', { class: 'muted', text: 'Counting the votes\\u2026' }));
    try {
      var rows = await api('/api/leaderboard');
      if (rows.length === 0) {
        show(el('div', { class: 'panel' }, [el('h2', { text: 'No votes yet' }), link('/', 'Be the first')]));
        return;
      }
      show(el('table', {}, [
        el('thead', {}, [el('tr', {}, [el('th', { text: '' }), el('th', { text: 'Shortcode' }), el('th', { text: 'Votes' })])]),
        el('tbody', {}, rows.map(function (r) {
          return el('tr', {}, [el('td', { class: 'e', text: r.unicode }), el('td', { text: r.shortcode }), el('td', { class: 'n', text: String(r.votes) })]);
        })),
      ]));
    } catch (err) {
      failure('The leaderboard could not be loaded', err);
    }
  }

  function route() {
    var board = location.pathname === '/leaderboard';
    document.querySelectorAll('nav a').forEach(function (a) {
      if (a.getAttribute('href') === location.pathname) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
    if (board) leaderboard(); else ballot();
  }

  function go(path) {
    history.pushState(null, '', path);
    route();
  }

  document.querySelectorAll('nav a').forEach(function (a) {
    a.addEventListener('click', function (ev) { ev.preventDefault(); go(a.getAttribute('href')); });
  });
  window.addEventListener('popstate', route);
  route();
})();
`;

export function indexHtml(messageOfTheDay: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Emoji Vote</title>
<link rel="icon" href="/img/favicon.ico" type="image/svg+xml">
<style>${CSS}</style>
</head>
<body>
<div id="motd" class="motd">${escapeHtml(messageOfTheDay)}</div>
<header>
<h1>\u{1F5F3} EMOJI VOTE \u{1F30E}</h1>
<p>emojivoto, the service mesh demo</p>
<nav><a href="/">Vote</a><a href="/leaderboard">Leaderboard</a></nav>
</header>
<main id="main" class="main"><noscript>The ballot needs JavaScript; the API is at /api/list, /api/vote?choice=:joy: and /api/leaderboard.</noscript></main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
