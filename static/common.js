// Shared helpers for the quizctl pages: a reconnecting websocket, text-only
// DOM helpers, a server-clock estimate, countdowns, bar charts and an ARIA
// live-region announcer. No framework, no build step.
//
// Every piece of user-controlled text (names, ids, question text, options)
// goes through textContent / setAttribute. Nothing here touches innerHTML.
// Every word the pages show comes from the catalogs through i18n.js.

import { formatCountdown, formatNumber, formatPercent, formatRelative, formatTime, i18nAttrs, setT, t } from "/static/i18n.js";

// ---------------------------------------------------------------- DOM

/**
 * Build an element. `attrs` keys:
 *   - "class": the class attribute
 *   - "on<event>": a function, added with addEventListener
 *   - "dataset": an object copied into el.dataset
 *   - true / false / null / undefined values: boolean attribute set / skipped
 *   - anything else: setAttribute(key, String(value))
 * Children: strings and numbers become text nodes, Nodes are appended, arrays
 * are flattened, null / undefined / false are skipped.
 */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") {
        node.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (key === "dataset") {
        Object.assign(node.dataset, value);
      } else if (value === true) {
        node.setAttribute(key, "");
      } else {
        node.setAttribute(key, String(value));
      }
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

/** el() whose text is the message `key`, re-translated when the language changes (see i18n.js). */
export function tEl(tag, attrs, key, params = null) {
  return el(tag, { ...(attrs || {}), ...i18nAttrs(key, params) }, t(key, params || {}));
}

/** Replace all children of `node` (text-safe, see el()). */
export function setChildren(node, ...children) {
  const frag = document.createDocumentFragment();
  append(frag, children);
  node.replaceChildren(frag);
}

/**
 * Set the text of a node (by id or node) to text that is not a catalog message (a name,
 * the question, a number); a language change leaves it alone. For messages use setT.
 */
export function setText(target, text) {
  const node = typeof target === "string" ? document.getElementById(target) : target;
  if (!node) return;
  node.removeAttribute("data-i18n");
  node.removeAttribute("data-i18n-params");
  node.textContent = text === null || text === undefined ? "" : String(text);
}

export function $(id) {
  return document.getElementById(id);
}

/** Show exactly one of `views` (ids or nodes): the rest get `hidden`. */
export function showOnly(views, visible) {
  for (const v of views) {
    const node = typeof v === "string" ? document.getElementById(v) : v;
    if (!node) continue;
    node.hidden = node !== visible && v !== visible;
  }
}

// ---------------------------------------------------------------- formatting

/** A score on its 0.05 grid, rounded to two decimals (a number, for t()'s params). */
export function roundScore(n) {
  const x = Number(n);
  return Number.isFinite(x) ? Math.round(x * 100) / 100 : 0;
}

/** 2.75 -> "2.75" ("2,75" in German), 1 -> "1", in the page's locale. */
export function fmtScore(n) {
  return formatNumber(roundScore(n));
}

/** "0.85 points", "1 point", "0,85 Punkte": the plural form follows the page's language. */
export function pointsText(n) {
  return t("common.points", { count: roundScore(n) });
}

/** Remaining milliseconds -> "0:42" / "12" style text, in the locale's digits. */
export function fmtCountdown(ms) {
  return formatCountdown(ms);
}

/** "now", "12 sec. ago", "vor 3 Min." from an elapsed time in ms. */
export function fmtAgo(ms) {
  return formatRelative(ms);
}

/** Accepts ms epoch numbers or ISO strings; returns ms epoch or NaN. */
export function toEpochMs(value) {
  if (value === null || value === undefined || value === "") return NaN;
  if (typeof value === "number") return value;
  const asNum = Number(value);
  if (Number.isFinite(asNum)) return asNum;
  return Date.parse(value);
}

/** A time of day in the page's locale. */
export function fmtClock(epochMs) {
  return formatTime(epochMs);
}

/** Option keys present in an options object, in A-D order. */
export function optionKeys(options) {
  return ["A", "B", "C", "D"].filter((k) => options && Object.prototype.hasOwnProperty.call(options, k));
}

// ---------------------------------------------------------------- live region

let liveRegion = null;
let announceTimer = null;

/**
 * Announce a state change to screen readers through a polite live region.
 * Uses an element with id "announcer" if the page has one.
 */
export function announce(message) {
  if (!liveRegion) {
    liveRegion = document.getElementById("announcer");
    if (!liveRegion) {
      liveRegion = el("div", { id: "announcer", class: "visually-hidden", "aria-live": "polite", "aria-atomic": "true" });
      document.body.appendChild(liveRegion);
    }
  }
  // Clear first so that the same message twice in a row is still announced;
  // a newer message replaces one that has not been written yet.
  liveRegion.textContent = "";
  if (announceTimer !== null) window.clearTimeout(announceTimer);
  announceTimer = window.setTimeout(() => {
    announceTimer = null;
    liveRegion.textContent = message;
  }, 50);
}

// ---------------------------------------------------------------- server clock

/**
 * Estimate of (server clock - local clock). Each sample server_ts - Date.now()
 * under-estimates the true offset by the one-way latency, so the largest of
 * the recent samples is the best guess.
 */
export class ServerClock {
  constructor(window_ = 10) {
    this.samples = [];
    this.window = window_;
    this.offset = 0;
  }

  observe(serverTs) {
    const ts = Number(serverTs);
    if (!Number.isFinite(ts) || ts <= 0) return;
    this.samples.push(ts - Date.now());
    if (this.samples.length > this.window) this.samples.shift();
    this.offset = Math.max(...this.samples);
  }

  /** Server time now, in ms epoch. */
  now() {
    return Date.now() + this.offset;
  }
}

/**
 * A countdown driven by `remaining_ms` as received: the deadline is the local
 * monotonic time of receipt plus remaining_ms, so a wrong local wall clock
 * does not matter.
 */
export class Countdown {
  constructor(onTick, onEnd) {
    this.onTick = onTick;
    this.onEnd = onEnd;
    this.deadline = null;
    this.timer = null;
    this.ended = false;
  }

  /** Start or re-sync. `remainingMs` as received, `receivedAt` = performance.now() at receipt. */
  start(remainingMs, receivedAt = performance.now()) {
    this.deadline = receivedAt + Math.max(0, Number(remainingMs) || 0);
    this.ended = false;
    if (this.timer === null) this.timer = window.setInterval(() => this.tick(), 200);
    this.tick();
  }

  /** Re-sync only when the new estimate differs by more than `slackMs` (avoids jitter). */
  resync(remainingMs, slackMs = 750) {
    const candidate = performance.now() + Math.max(0, Number(remainingMs) || 0);
    if (this.deadline === null || Math.abs(candidate - this.deadline) > slackMs) {
      this.start(remainingMs);
    }
  }

  remaining() {
    return this.deadline === null ? 0 : Math.max(0, this.deadline - performance.now());
  }

  tick() {
    const left = this.remaining();
    this.onTick(left);
    if (left <= 0) {
      this.stop();
      if (!this.ended) {
        this.ended = true;
        if (this.onEnd) this.onEnd();
      }
    }
  }

  stop() {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
      this.timer = null;
    }
  }
}

// ---------------------------------------------------------------- bar charts

/**
 * Horizontal (default) or vertical bar chart that updates in place, so CSS
 * transitions animate and a frequent update costs a few property writes.
 * update(items): items = [{key, label, count, className?, note?}].
 */
export class BarChart {
  constructor(container, { vertical = false, showPercent = false, ariaLabel = "" } = {}) {
    this.container = container;
    this.vertical = vertical;
    this.showPercent = showPercent;
    this.rows = new Map();
    this.signature = "";
    container.classList.add("bars", vertical ? "bars-vertical" : "bars-horizontal");
    container.setAttribute("role", "list");
    if (ariaLabel) container.setAttribute("aria-label", ariaLabel);
  }

  update(items, maxOverride = null) {
    const signature = items.map((i) => `${i.key}|${i.label}|${i.className || ""}`).join("\n");
    if (signature !== this.signature) this.rebuild(items, signature);
    const total = items.reduce((a, i) => a + (Number(i.count) || 0), 0);
    const max = maxOverride ?? Math.max(1, ...items.map((i) => Number(i.count) || 0));
    for (const item of items) {
      const row = this.rows.get(item.key);
      const count = Number(item.count) || 0;
      const pct = max > 0 ? (count / max) * 100 : 0;
      if (this.vertical) row.fill.style.height = `${pct}%`;
      else row.fill.style.width = `${pct}%`;
      let text = formatNumber(count);
      if (this.showPercent && total > 0) text = t("chart.count_percent", { count, percent: formatPercent(count / total) });
      row.count.textContent = text;
      const params = { label: item.label, value: text, note: item.note || "" };
      row.item.setAttribute("aria-label", t(item.note ? "chart.row_note" : "chart.row", params));
    }
  }

  rebuild(items, signature) {
    this.signature = signature;
    this.rows.clear();
    const frag = document.createDocumentFragment();
    for (const item of items) {
      const fill = el("div", { class: "bar-fill" });
      const count = el("span", { class: "bar-count" });
      const label = el("span", { class: "bar-label" }, item.label);
      const row = el(
        "div",
        { class: `bar-row ${item.className || ""}`.trim(), role: "listitem" },
        label,
        el("div", { class: "bar-track", "aria-hidden": "true" }, fill),
        count,
      );
      frag.appendChild(row);
      this.rows.set(item.key, { item: row, fill, count });
    }
    this.container.replaceChildren(frag);
  }
}

// ---------------------------------------------------------------- websocket

/** ws(s)://host/path, with an optional query object. */
export function wsUrl(path, query = null) {
  const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
  let url = `${proto}//${window.location.host}${path}`;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") qs.set(k, v);
    const s = qs.toString();
    if (s) url += `?${s}`;
  }
  return url;
}

export const FATAL_CLOSE_CODES = new Set([4001, 4002]);

/**
 * A websocket that reconnects with exponential backoff (0.5 s doubling to
 * 10 s, with jitter), pings every 20 s, drops a connection that has been
 * silent for too long, and gives up on close codes 4001 / 4002, telling the
 * page through onFatal(code, reason).
 *
 * Callbacks: onMessage(msg, receivedAt), onOpen(), onStatus(status) with
 * status one of "connecting" | "open" | "reconnecting" | "stopped",
 * onFatal(code, reason).
 */
export class ReconnectingSocket {
  constructor(url, { onMessage, onOpen, onStatus, onFatal, pingMs = 20000, minDelayMs = 500, maxDelayMs = 10000 } = {}) {
    this.url = url;
    this.onMessage = onMessage || (() => {});
    this.onOpen = onOpen || (() => {});
    this.onStatus = onStatus || (() => {});
    this.onFatal = onFatal || (() => {});
    this.pingMs = pingMs;
    this.minDelayMs = minDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastRx = 0;
    this.status = "stopped";
    this._wake = () => this.wake();
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this._wake);
    document.addEventListener("visibilitychange", this._wake);
    window.addEventListener("pageshow", this._wake);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this._wake);
    document.removeEventListener("visibilitychange", this._wake);
    window.removeEventListener("pageshow", this._wake);
    this.clearTimers();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try {
        ws.close(1000, "client stop");
      } catch {
        /* already closed */
      }
    }
    this.setStatus("stopped");
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send a JSON message; returns false when not connected. */
  send(obj) {
    if (!this.isOpen) return false;
    try {
      this.ws.send(JSON.stringify(obj));
      return true;
    } catch {
      return false;
    }
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.onStatus(status);
  }

  clearTimers() {
    if (this.retryTimer !== null) window.clearTimeout(this.retryTimer);
    if (this.pingTimer !== null) window.clearInterval(this.pingTimer);
    this.retryTimer = null;
    this.pingTimer = null;
  }

  /** Reconnect now (network back, tab visible again) instead of waiting out the backoff. */
  wake() {
    if (this.stopped || document.visibilityState === "hidden") return;
    if (this.ws === null && this.retryTimer !== null) {
      window.clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.attempt = 0;
      this.connect();
    } else if (this.isOpen && performance.now() - this.lastRx > this.pingMs) {
      // Phones freeze sockets while asleep; probe at once.
      this.send({ type: "ping" });
    }
  }

  connect() {
    if (this.stopped) return;
    this.setStatus(this.attempt === 0 && this.status !== "reconnecting" ? "connecting" : "reconnecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (ws !== this.ws) return;
      this.attempt = 0;
      this.lastRx = performance.now();
      this.setStatus("open");
      this.pingTimer = window.setInterval(() => this.heartbeat(), this.pingMs);
      this.onOpen();
    });
    ws.addEventListener("message", (ev) => {
      if (ws !== this.ws) return;
      const receivedAt = performance.now();
      this.lastRx = receivedAt;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!msg || typeof msg !== "object") return;
      try {
        this.onMessage(msg, receivedAt);
      } catch (err) {
        console.error("message handler failed", msg && msg.type, err);
      }
    });
    ws.addEventListener("close", (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.clearTimers();
      if (this.stopped) return;
      if (FATAL_CLOSE_CODES.has(ev.code)) {
        this.stopped = true;
        this.setStatus("stopped");
        this.onFatal(ev.code, ev.reason || "");
        return;
      }
      this.scheduleRetry();
    });
    // "error" is always followed by "close"; nothing to do here.
  }

  heartbeat() {
    if (!this.isOpen) return;
    // Two missed pongs: the connection is dead even if the browser has not noticed.
    if (performance.now() - this.lastRx > this.pingMs * 2 + 5000) {
      const ws = this.ws;
      this.ws = null;
      this.clearTimers();
      try {
        ws.close(4000, "heartbeat timeout");
      } catch {
        /* ignore */
      }
      this.scheduleRetry();
      return;
    }
    this.send({ type: "ping" });
  }

  scheduleRetry() {
    if (this.stopped) return;
    this.setStatus("reconnecting");
    const base = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** this.attempt);
    // Jitter: between 50 % and 100 % of the nominal delay, so a classroom of
    // phones does not reconnect in lockstep after a server restart.
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.attempt += 1;
    this.retryTimer = window.setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }
}

/** A small "Connected / Reconnecting…" indicator bound to a status element. */
export function bindConnectionStatus(node, { announceChanges = true } = {}) {
  let previous = "stopped";
  let everOpen = false;
  return (status) => {
    if (node) {
      node.dataset.status = status;
      setT(node, `conn.${status}`);
    }
    if (announceChanges) {
      if (status === "reconnecting" && previous === "open") announce(t("conn.lost"));
      if (status === "open" && everOpen && previous !== "open") announce(t("conn.back"));
    }
    if (status === "open") everOpen = true;
    previous = status;
  };
}

// ---------------------------------------------------------------- HTTP

/** fetch + JSON with a short timeout. Returns {ok, status, data}. */
export async function fetchJson(url, { method = "GET", body = undefined, timeoutMs = 10000, keepalive = false } = {}) {
  const ctrl = new AbortController();
  const timer = window.setTimeout(() => ctrl.abort(), timeoutMs);
  try {
    const res = await fetch(url, {
      method,
      credentials: "same-origin",
      cache: "no-store",
      keepalive,
      signal: ctrl.signal,
      headers: body === undefined ? { Accept: "application/json" } : { Accept: "application/json", "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    const type = res.headers.get("Content-Type") || "";
    if (res.status !== 204 && type.includes("json")) {
      try {
        data = await res.json();
      } catch {
        data = null;
      }
    }
    return { ok: res.ok, status: res.status, data };
  } finally {
    window.clearTimeout(timer);
  }
}

// ================================================================ question content and answers (every page)

/** Option keys present in an options object, in A-F order (choice questions have up to six). */
export function choiceKeys(options) {
  return ["A", "B", "C", "D", "E", "F"].filter((k) => options && Object.prototype.hasOwnProperty.call(options, k));
}

/**
 * The nodes of a sanitized HTML fragment (`text_html`, `options_html`, `explanation_html`),
 * copied through the allow-list (see setRenderedHtml). `focusableCode: false` for content
 * placed inside a button or label, where a focusable code block would be a control inside a
 * control.
 */
export function richNodes(html, { focusableCode = true } = {}) {
  if (!html) return [];
  const parsed = new DOMParser().parseFromString(`<!doctype html><body>${String(html)}`, "text/html");
  const nodes = Array.from(keepRendered(parsed.body).childNodes);
  if (!focusableCode) return nodes;
  for (const child of nodes) {
    if (!(child instanceof Element)) continue;
    const blocks = child.matches("pre") ? [child] : Array.from(child.querySelectorAll("pre"));
    for (const pre of blocks) pre.setAttribute("tabindex", "0");
  }
  return nodes;
}

/**
 * What a student typed into a number field, as a number: a decimal comma is read as a point
 * ("3,14" → 3.14), spaces used to group digits are ignored ("3 628 800"). Null for anything
 * that is not a plain decimal number (including "1,234.5", which could mean either).
 */
export function parseDecimal(text) {
  const compact = String(text ?? "").replace(/[\s\u00a0\u202f']/g, "").replace(/^\u2212/, "-");
  if (!compact) return null;
  if (compact.includes(",") && compact.includes(".")) return null;
  const normalized = compact.replace(",", ".");
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(normalized)) return null;
  const value = Number(normalized);
  return Number.isFinite(value) ? value : null;
}

// ---------------------------------------------------------------- rendered content and question types

// What server/quiz/content/sanitize.py lets through: the renderer's HTML and MathML.
const RENDERED_TAGS = new Set(
  (
    "p br hr em strong s code pre span blockquote ul ol li h3 h4 h5 h6 table thead tbody tr th td " +
    "math mrow mi mn mtext mo mspace mfrac msqrt mroot msub msup msubsup mover munder munderover " +
    "mtable mtr mtd mstyle mpadded mphantom menclose"
  ).split(" "),
);
const RENDERED_ATTRIBUTES = new Set(
  (
    "class start xmlns display mathvariant stretchy fence separator form lspace rspace minsize maxsize " +
    "movablelimits accent width height depth linebreak mathbackground linethickness displaystyle rowspacing " +
    "columnspacing columnlines rowlines columnalign mathsize scriptlevel mathcolor voffset notation"
  ).split(" "),
);

const DROPPED_WITH_CONTENT = new Set("script style template iframe object embed noscript svg canvas".split(" "));

function keepRendered(source) {
  const out = document.createDocumentFragment();
  for (const child of Array.from(source.childNodes)) {
    if (child.nodeType === Node.TEXT_NODE) {
      out.appendChild(document.createTextNode(child.data));
    } else if (child.nodeType === Node.ELEMENT_NODE) {
      const name = child.localName;
      if (!RENDERED_TAGS.has(name)) {
        // Anything else keeps only its text (code and embeds not even that): the server's
        // sanitizer never lets it through, this is the page's own second line.
        if (!DROPPED_WITH_CONTENT.has(name)) out.appendChild(document.createTextNode(child.textContent || ""));
        continue;
      }
      const copy = document.createElementNS(child.namespaceURI, name);
      for (const attr of Array.from(child.attributes)) {
        if (RENDERED_ATTRIBUTES.has(attr.name)) copy.setAttribute(attr.name, attr.value);
      }
      copy.appendChild(keepRendered(child));
      out.appendChild(copy);
    }
  }
  return out;
}

/**
 * Show server-rendered, server-sanitized HTML (question text, options, explanations: Markdown,
 * highlighted code, MathML) inside `node`. It is parsed by DOMParser (scripts never run there),
 * copied element by element through the same allow-list the server's sanitizer uses, and only
 * then put in the page, so no innerHTML and no markup outside the list. Without HTML, `text` is
 * shown as plain text.
 */
export function setRenderedHtml(target, html, text = "") {
  const node = typeof target === "string" ? document.getElementById(target) : target;
  if (!node) return;
  node.removeAttribute("data-i18n");
  node.removeAttribute("data-i18n-params");
  if (typeof html !== "string" || !html) {
    node.textContent = text === null || text === undefined ? "" : String(text);
    return;
  }
  const parsed = new DOMParser().parseFromString(`<!doctype html><body>${html}`, "text/html");
  node.replaceChildren(keepRendered(parsed.body));
  // Code blocks scroll sideways on narrow screens (highlight.css): keyboard users must reach them.
  for (const pre of node.querySelectorAll("pre.code")) pre.tabIndex = 0;
}

/** The option keys a question shows, in order: A-F for choice types, true then false for true/false. */
export function questionKeys(question) {
  if (!question) return [];
  if (question.question_type === "true_false") return ["true", "false"];
  return choiceKeys(question.options);
}

/** How the pages name an option: its letter, or True / False in the page's language. */
export function keyLabel(questionType, key) {
  if (questionType === "true_false") return t(String(key) === "true" ? "pj.true" : "pj.false");
  return String(key);
}

/** The keys a reveal's `correct` marks right, as strings ("B", "true"); empty for polls and other types. */
export function correctKeySet(questionType, correct) {
  if (correct === null || correct === undefined) return new Set();
  if (questionType === "multiple" && Array.isArray(correct)) return new Set(correct.map(String));
  if (questionType === "true_false") return new Set([String(correct)]);
  if (questionType === "single" && typeof correct === "string") return new Set([correct]);
  return new Set();
}

/** The form free-text answers are compared in (as the server's `fold`): NFKC, case folded, single spaces. */
export function foldAnswer(text) {
  return String(text ?? "")
    .normalize("NFKC")
    .toLowerCase()
    .replace(/ß/g, "ss")
    .replace(/ς/g, "σ")
    .split(/\s+/)
    .filter(Boolean)
    .join(" ");
}

/** A number as exact as it was given (up to 6 decimals), in the page's locale. */
export function fmtExact(value) {
  return formatNumber(value, { maximumFractionDigits: 6 });
}

/** A numeric question's right answer in words: "7", "21.8 ± 0.1", "3 to 5", with its unit. */
export function numericAnswerText(correct, unit = "") {
  if (!correct || typeof correct !== "object") return "";
  const range = Array.isArray(correct.range) ? correct.range : [];
  let text;
  if (correct.value !== undefined && correct.value !== null) {
    text = Number(correct.tolerance)
      ? t("pj.numeric_tolerance", { value: fmtExact(correct.value), tolerance: fmtExact(correct.tolerance) })
      : fmtExact(correct.value);
  } else if (range.length === 2) {
    text = Number(range[0]) === Number(range[1]) ? fmtExact(range[0]) : t("pj.numeric_range", { low: fmtExact(range[0]), high: fmtExact(range[1]) });
  } else {
    return "";
  }
  return unit ? t("pj.with_unit", { value: text, unit }) : text;
}

/**
 * Decimals that tell a histogram's bin edges apart (width 0.02 needs 2, width 5 needs none),
 * so labels are as short as they can be and still differ.
 */
export function binDecimals(bins) {
  const edges = (bins || []).flatMap((b) => [Number(b.low), Number(b.high)]).filter(Number.isFinite);
  if (edges.length < 2) return 0;
  const width = Math.abs(edges[1] - edges[0]) || 1;
  for (let d = 0; d <= 6; d += 1) {
    const scale = 10 ** d;
    if (edges.every((e) => Math.abs(Math.round(e * scale) / scale - e) <= width / 100)) return d;
  }
  return 6;
}

/** A histogram bin's range as a short label in the page's locale ("6.9–7.1"). */
export function binLabel(bin, decimals) {
  const f = (v) => formatNumber(v, { maximumFractionDigits: decimals, minimumFractionDigits: 0 });
  return t("chart.range", { from: f(bin.low), to: f(bin.high) });
}

/** True if a bin [low, high] overlaps the right range [a, b]. */
export function binInRange(bin, range) {
  if (!Array.isArray(range) || range.length !== 2) return false;
  return Number(bin.low) <= Number(range[1]) && Number(bin.high) >= Number(range[0]);
}
