// Projector page: public, read-only big-screen view driven by projector_state snapshots.
//
// Made to be read from the back of a hall: every text the hall reads is at least 3.5 % of
// the screen's height (projector.css, --floor), and each view is fitted to the screen by
// shrinking its big type towards that floor (fitView), dropping optional cards, and only as
// a last resort scaling the whole view down.
import {
  $,
  announce,
  binDecimals,
  binInRange,
  binLabel,
  bindConnectionStatus,
  correctKeySet,
  Countdown,
  el,
  fmtCountdown,
  fmtScore,
  foldAnswer,
  keyLabel,
  numericAnswerText,
  pointsText,
  questionKeys,
  ReconnectingSocket,
  ServerClock,
  setChildren,
  setRenderedHtml,
  setText,
  tEl,
  wsUrl,
} from "/static/common.js";
import { formatNumber, formatPercent, initPageLanguage, setT, t } from "/static/i18n.js";

// The projector speaks the server's configured language (--lang / QUIZ_LANG / the pool's
// "language"), served in <meta name="quiz-language">; `?lang=` overrides it for a preview.
await initPageLanguage();

const VIEWS = ["pj-loading", "pj-lobby", "pj-question", "pj-board", "pj-finished"];
const QUESTION_STATES = new Set(["question_open", "question_paused", "question_closed"]);
const NAMES_SHOWN = 12; // newest names in the lobby
const TOP_ANSWERS = 10;

const P = {
  state: null,
  qrUrl: null,
  questionKey: null, // the asked question whose content is on screen
  optionsKey: null, // what the option tiles were built for
  scoreBuckets: [],
  scoreCoarse: false,
  countdownKey: null,
  fitKey: null,
  layoutKey: "", // the shape of what is shown, from the last render
  snapshot: null,
  seenNames: new Set(),
  namesShown: new URLSearchParams(window.location.search).get("names") !== "off",
};

const clock = new ServerClock();

const countdown = new Countdown((ms) => {
  setText("pj-timer-text", fmtCountdown(ms));
  $("pj-timer").classList.toggle("urgent", ms > 0 && ms <= 5000);
  $("pj-timer").classList.toggle("done", ms <= 0);
});

function showView(id) {
  for (const v of VIEWS) $(v).hidden = v !== id;
}

// ------------------------------------------------------------------ bar charts

/**
 * Horizontal bars: a label column sized to its longest label (labels never wrap), the bar,
 * and the count (with its percentage where asked). Rows are patched in place, so a live poll
 * animates (unless the viewer prefers reduced motion). `clear()` takes every row out of the
 * DOM: an open question's counts are absent from the page, not hidden.
 */
class Bars {
  constructor(list) {
    this.list = list;
    this.rows = new Map();
    this.signature = "";
  }

  clear() {
    this.list.replaceChildren();
    this.rows.clear();
    this.signature = "";
  }

  /** items: [{key, label, count, correct?, muted?}]; `total` > 0 adds percentages of it. */
  update(items, { total = 0 } = {}) {
    const signature = items.map((i) => `${i.key}|${i.label}|${i.correct ? 1 : 0}|${i.muted ? 1 : 0}`).join("\n");
    if (signature !== this.signature) this.rebuild(items, signature);
    const max = Math.max(1, ...items.map((i) => Number(i.count) || 0));
    for (const item of items) {
      const row = this.rows.get(item.key);
      const count = Number(item.count) || 0;
      row.fill.style.inlineSize = `${(count / max) * 100}%`;
      const value = total > 0 ? t("chart.count_percent", { count, percent: formatPercent(count / total) }) : formatNumber(count);
      row.value.textContent = value;
      const params = { label: item.label, value, note: t("current.correct_note") };
      row.item.setAttribute("aria-label", t(item.correct ? "chart.row_note" : "chart.row", params));
    }
  }

  rebuild(items, signature) {
    this.signature = signature;
    this.rows.clear();
    const frag = document.createDocumentFragment();
    for (const item of items) {
      const fill = el("span", { class: "pj-bar-fill" });
      const value = el("span", { class: "pj-bar-value", "aria-hidden": "true" });
      const label = el(
        "span",
        { class: "pj-bar-label", dir: "auto", "aria-hidden": "true" },
        item.correct ? el("span", { class: "pj-bar-icon" }, "✓") : null,
        el("bdi", null, item.label),
      );
      const row = el(
        "li",
        { class: `pj-bar${item.correct ? " is-correct" : ""}${item.muted ? " is-muted" : ""} bar-${item.key}` },
        label,
        el("span", { class: "pj-bar-track", "aria-hidden": "true" }, fill),
        value,
      );
      frag.appendChild(row);
      this.rows.set(item.key, { item: row, fill, value });
    }
    this.list.replaceChildren(frag);
  }
}

const answerBars = new Bars($("pj-bars"));
const resultBars = new Bars($("pj-result-bars"));
const rtBars = new Bars($("pj-rt-bars"));
const scoreBars = new Bars($("pj-score-bars"));

/** A bucket label from the server ("0-2.5s", "0.0-1.0") in the page's locale ("0–2,5 s"). */
function rangeLabel(label) {
  const match = /^(-?\d+(?:\.\d+)?)-(-?\d+(?:\.\d+)?)(s?)$/.exec(String(label ?? ""));
  if (!match) return String(label ?? "");
  const [, from, to, seconds] = match;
  return t(seconds ? "chart.range_seconds" : "chart.range", { from: Number(from), to: Number(to) });
}

/**
 * Buckets ("0-2.5s", "0.0-0.3") merged pairwise: the response times in quarters of the time
 * limit rather than eighths, the scores in fifths rather than tenths, to leave room for the
 * rest. Buckets of another shape are returned as they are.
 */
function mergePairs(buckets) {
  const parse = (label) => /^(-?\d+(?:\.\d+)?)-(-?\d+(?:\.\d+)?)(s?)$/.exec(String(label ?? ""));
  if (buckets.length % 2 || !buckets.every((b) => parse(b.label))) return buckets;
  const merged = [];
  for (let i = 0; i < buckets.length; i += 2) {
    const [first, second] = [parse(buckets[i].label), parse(buckets[i + 1].label)];
    const count = (Number(buckets[i].count) || 0) + (Number(buckets[i + 1].count) || 0);
    merged.push({ label: `${first[1]}-${second[2]}${first[3]}`, count });
  }
  return merged;
}

// ------------------------------------------------------------------ word cloud

const CLOUD_COLOURS = 8;

/**
 * Free-text answers as words sized by how often they were given (text only, never markup).
 * The most frequent sit in the middle; the count is in each word's accessible name.
 */
function renderCloud(list, top) {
  const entries = (top || []).filter((e) => e && typeof e.text === "string").slice(0, TOP_ANSWERS);
  if (!entries.length) {
    setChildren(list, tEl("li", { class: "pj-cloud-empty" }, "pj.no_answers_yet"));
    return "cloud";
  }
  const counts = entries.map((e) => Number(e.count) || 0);
  const most = Math.max(...counts);
  const least = Math.min(...counts);
  const sorted = entries.map((e, i) => ({ ...e, rank: i })).sort((a, b) => b.count - a.count);
  // Biggest in the middle: alternate the rest to either side.
  const arranged = [];
  sorted.forEach((e, i) => (i % 2 ? arranged.push(e) : arranged.unshift(e)));
  setChildren(
    list,
    arranged.map((e) => {
      const weight = most === least ? 1 : (e.count - least) / (most - least);
      const word = el(
        "li",
        {
          class: `pj-word pj-word-${e.rank % CLOUD_COLOURS}`,
          dir: "auto",
          "aria-label": t("chart.row", { label: e.text, value: formatNumber(e.count) }),
        },
        e.text,
      );
      word.style.setProperty("--w", String(Math.sqrt(weight).toFixed(3)));
      return word;
    }),
  );
  // The words and their sizes (in quarters) decide the cloud's shape: refit when they change.
  return `cloud:${arranged.map((e) => `${e.text}/${Math.round(4 * (most === least ? 1 : (e.count - least) / (most - least)))}`).join("|")}`;
}

// ------------------------------------------------------------------ fitting the screen

// Narrow windows (a laptop preview, see projector.css) stack and scroll instead of fitting.
const narrowScreen = window.matchMedia("(max-aspect-ratio: 4/3)");
const FIT_MIN = 0.3;
const FIT_MAX = 1.35;
const MIN_ZOOM = 0.5;

/**
 * True if the view is taller or wider than the screen, or something sticks out of its box:
 * a column (wide code would run under the side column) or an option's word out of its tile.
 */
function overflows() {
  const main = $("main");
  if (main.scrollHeight > main.clientHeight + 1 || main.scrollWidth > main.clientWidth + 1) return true;
  const columns = main.querySelectorAll(".pj-view:not([hidden]) :is(.pj-q-main, .pj-side, .pj-final-main, .pj-final-side)");
  if (Array.from(columns).some((box) => box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1)) return true;
  // Options: only sideways (a formula's ink may rise above its line without harm).
  const options = main.querySelectorAll(".pj-view:not([hidden]) .pj-opt-text");
  return Array.from(options).some((text) => text.scrollWidth > text.clientWidth + 1);
}

/** Names cut short with an ellipsis: shrink the type for them, but never below the floor. */
function namesCut() {
  const names = $("main").querySelectorAll(".pj-view:not([hidden]) :is(.pj-name, .pj-podium-name, .pj-top10-name, .pj-name-chip)");
  return Array.from(names).some((name) => name.scrollWidth > name.clientWidth + 1);
}

/**
 * The largest --fit in [FIT_MIN, FIT_MAX] at which the view fits, and at which no name is
 * cut short if there is one; false if the view fits at none.
 */
function searchFit(view) {
  let fits = () => !overflows() && !namesCut();
  view.style.setProperty("--fit", String(FIT_MAX));
  if (fits()) return true;
  view.style.setProperty("--fit", String(FIT_MIN));
  if (overflows()) return false;
  // A name too long even at the floor keeps its ellipsis; it does not shrink everything else.
  if (namesCut()) fits = () => !overflows();
  let lo = FIT_MIN;
  let hi = FIT_MAX;
  for (let i = 0; i < 7; i += 1) {
    const mid = (lo + hi) / 2;
    view.style.setProperty("--fit", String(mid));
    if (fits()) lo = mid;
    else hi = mid;
  }
  view.style.setProperty("--fit", String(lo));
  return true;
}

/** Every subset of the optional cards, fewest (and least important) dropped first. */
function dropSets(optional) {
  const sets = [[]];
  for (const card of optional) for (const set of sets.slice()) sets.push([...set, card]);
  return sets.sort((a, b) => a.length - b.length);
}

/**
 * Fit the visible view to one screen: its big type (question, code, options, names) shrinks
 * towards the legibility floor until nothing overflows; if that is not enough, the layout
 * changes (ARRANGEMENTS), then optional cards make room (response times, the top 5, the score
 * distribution; fewest first); only content that still does not fit is scaled down as a
 * whole (CSS zoom, set through the CSSOM, which the CSP allows) rather than cut off. Runs
 * when what is shown changes shape (`layoutKey`), not on every count.
 */
function fitView(layoutKey, force = false) {
  const view = VIEWS.map((id) => $(id)).find((v) => !v.hidden);
  if (!view) return;
  const key = `${view.id}|${layoutKey}|${window.innerWidth}x${window.innerHeight}|${narrowScreen.matches}`;
  if (!force && key === P.fitKey) return;
  P.fitKey = key;
  for (const id of VIEWS) {
    $(id).style.zoom = "";
    $(id).style.removeProperty("--fit");
    $(id).style.removeProperty("--code-max");
  }
  arrange(view, {}, []);
  const optional = Array.from(view.querySelectorAll("[data-drop]"))
    .filter((card) => !card.hidden)
    .sort((a, b) => Number(a.dataset.drop) - Number(b.dataset.drop));
  for (const card of optional) card.classList.remove("is-dropped");
  if (narrowScreen.matches) return;
  // Measure sizes as they are, not as a transition starts them (with reduced motion every
  // property gets a tiny transition; see style.css).
  view.classList.add("is-fitting");
  try {
    for (const dropped of dropSets(optional)) {
      for (const card of optional) card.classList.toggle("is-dropped", dropped.includes(card));
      for (const group of ARRANGEMENTS[view.id] || [[{}]]) {
        // Within a group, the arrangement with the biggest type wins.
        let best = null;
        for (const arrangement of group) {
          if (!arrange(view, arrangement, dropped)) continue;
          limitCodeWidth(view);
          if (!searchFit(view)) continue;
          const fit = Number(view.style.getPropertyValue("--fit"));
          if (best === null || fit > best.fit + 0.01) best = { arrangement, fit };
        }
        if (best === null) continue;
        arrange(view, best.arrangement, dropped);
        limitCodeWidth(view);
        searchFit(view);
        return;
      }
    }
    arrange(view, {}, []);
    zoomToFit(view);
  } finally {
    view.classList.remove("is-fitting");
  }
}

/**
 * Ways to lay out a question, in groups tried in order: the options in rows of two (three
 * for five or six) or all in one row; the side column at its width, or narrower (wide code
 * needs the room), or the histogram or top answers beside the question; the reveal's top 5
 * under the question or under the side column's charts; a choice question's counts in the
 * side chart or in the option tiles themselves.
 */
const ARRANGEMENTS = {
  "pj-question": [
    [{}, { oneRow: true }],
    [{ narrow: true }, { narrow: true, oneRow: true }, { resultAside: true }],
    [{ topAside: true }, { topAside: true, oneRow: true }, { narrow: true, topAside: true }, { narrow: true, topAside: true, oneRow: true }],
    [
      { tileCounts: true, narrow: true },
      { tileCounts: true, narrow: true, oneRow: true },
      { tileCounts: true, narrow: true, topAside: true },
      { tileCounts: true, narrow: true, topAside: true, oneRow: true },
    ],
  ],
  // The score distribution in tenths of the top score, or in fifths beside a long list.
  "pj-finished": [[{}], [{ coarse: true }], [{ coarse: true, distUnderTitle: true }]],
};

/** Apply an arrangement to the visible view; false if it does not apply to what is shown. */
function arrange(
  view,
  { narrow = false, topAside = false, tileCounts = false, oneRow = false, resultAside = false, coarse = false, distUnderTitle = false },
  dropped,
) {
  if (view.id === "pj-finished") {
    // The distribution beside the podium (under the list), or above the podium when the list is long.
    const card = $("pj-dist-card");
    if (distUnderTitle) $("pj-podium").before(card);
    else if (card.parentElement !== $("pj-final-side")) $("pj-final-side").appendChild(card);
    return showScoreDistribution(coarse) && (!distUnderTitle || !card.hidden);
  }
  if (view.id !== "pj-question") return true;
  const card = $("pj-reveal-top-card");
  const options = $("pj-options");
  const result = $("pj-result");
  if (topAside && (card.hidden || dropped.includes(card))) return false;
  if (resultAside && result.hidden) return false;
  if (tileCounts && !view.querySelector(".pj-opt-count")) return false;
  const tiles = options.children.length;
  if (oneRow && (tiles < 3 || tiles > 4 || options.dataset.cols === String(tiles))) return false;
  options.style.setProperty("--cols", oneRow ? String(tiles) : options.dataset.cols || "2");
  view.classList.toggle("is-tile-counts", tileCounts);
  view.classList.toggle("is-result-aside", resultAside);
  // The result goes after the counts in the side column, or back before the explanation.
  if (resultAside && result.parentElement !== $("pj-side")) $("pj-answers-card").before(result);
  if (!resultAside && result.parentElement !== $("pj-q-main")) $("pj-explanation-wrap").before(result);
  const home = topAside ? $("pj-side") : $("pj-q-main");
  if (card.parentElement !== home) home.appendChild(card);
  // Narrow: 19 % of the width, or as much more as the side column's content needs.
  view.style.removeProperty("--side-narrow");
  view.classList.toggle("is-narrow-side", narrow);
  const side = $("pj-side");
  if (narrow && side.scrollWidth > side.clientWidth + 1) view.style.setProperty("--side-narrow", `${side.scrollWidth}px`);
  return true;
}

/**
 * Code keeps its lines whole, so its width, not the screen's height, bounds its size: the
 * largest type at which the widest block fits its column (--code-max), before the height fit.
 */
function limitCodeWidth(view) {
  view.style.removeProperty("--code-max");
  view.style.setProperty("--fit", "1");
  let limit = Infinity;
  for (const pre of view.querySelectorAll("pre.code")) {
    const column = pre.closest(".pj-q-main, .pj-explanation, .pj-opt-text") || pre.parentElement;
    const style = getComputedStyle(column);
    const room = column.clientWidth - parseFloat(style.paddingInlineStart) - parseFloat(style.paddingInlineEnd);
    const fontPx = parseFloat(getComputedStyle(pre).fontSize);
    if (pre.scrollWidth > 0 && room > 0) limit = Math.min(limit, (fontPx * room) / pre.scrollWidth);
  }
  if (Number.isFinite(limit)) view.style.setProperty("--code-max", `${Math.floor(limit * 100) / 100}px`);
}

/** The last resort: scale the whole view down until it fits (CSS zoom, through the CSSOM). */
function zoomToFit(view) {
  let lo = MIN_ZOOM;
  let hi = 1;
  for (let i = 0; i < 7; i += 1) {
    const mid = (lo + hi) / 2;
    view.style.zoom = String(mid);
    if (overflows()) hi = mid;
    else lo = mid;
  }
  view.style.zoom = String(lo);
}

window.addEventListener("resize", () => fitView(P.layoutKey || "", true));

/** A picture's size is known once it has loaded: fit the view again then. */
function refitAfterImage() {
  fitView(P.layoutKey || "", true);
}

$("pj-q-img").addEventListener("load", refitAfterImage);

// ------------------------------------------------------------------ snapshot

function onSnapshot(msg, receivedAt) {
  P.snapshot = msg;
  if (msg.server_ts) clock.observe(msg.server_ts);
  if (msg.title) {
    setText("pj-title", msg.title);
    setT(document.querySelector("title"), "pj.doc_title_quiz", { title: msg.title });
  }
  const state = msg.state;
  const q = msg.question;
  const onQuestion = QUESTION_STATES.has(state) && !!q;
  const count = Number(msg.participant_count) || 0;

  // The top bar: how to join (the lobby shows it large instead) and the quiz's length.
  setText("pj-join-url", msg.join_url || "");
  setText("pj-join-top", msg.join_url || "");
  setT("pj-players", "pj.players", { count });
  $("pj-join").hidden = state === "lobby" || !msg.join_url;
  const total = (q && q.total_questions) || (msg.pool_meta && msg.pool_meta.question_count) || null;
  // The quiz's length while people join; afterwards the bar has the join link instead.
  if (state === "lobby" && total) setT("pj-progress", "pj.questions", { count: Number(total) });
  else setText("pj-progress", "");

  const changed = state !== P.state;
  P.state = state;
  let layoutKey;
  if (state === "lobby") {
    countdown.stop();
    P.questionKey = null;
    layoutKey = renderLobby(msg, count);
    showView("pj-lobby");
  } else if (onQuestion) {
    showView("pj-question");
    layoutKey = renderQuestion(msg, receivedAt);
  } else if (state === "finished") {
    countdown.stop();
    showView("pj-finished");
    layoutKey = renderFinished(msg);
  } else {
    // between_questions (or a state without a question block): the standings.
    countdown.stop();
    showView("pj-board");
    layoutKey = renderBoard(msg.leaderboard || []);
  }
  P.layoutKey = layoutKey;
  fitView(layoutKey);
  if (changed) announceState(msg);
}

function announceState(msg) {
  const q = msg.question;
  const reveal = msg.reveal;
  const label = {
    lobby: () => t("pj.announce_lobby"),
    question_open: () => (q ? t("pj.announce_question", { n: Number(q.idx) + 1, text: q.text }) : t("pj.announce_open")),
    question_paused: () => t("pj.paused"),
    question_closed: () => {
      if (q && q.skipped) return t("pj.skipped");
      return reveal ? t("pj.announce_reveal", { answer: correctText(q, reveal) }) : t("pj.announce_closed");
    },
    between_questions: () => t("pj.announce_board"),
    finished: () => t("pj.announce_final"),
  }[msg.state]?.();
  if (label) announce(label);
}

// ------------------------------------------------------------------ lobby

function setNamesShown(shown) {
  P.namesShown = shown;
  const params = new URLSearchParams(window.location.search);
  if (shown) params.delete("names");
  else params.set("names", "off");
  const query = params.toString();
  window.history.replaceState(null, "", window.location.pathname + (query ? `?${query}` : "") + window.location.hash);
  if (P.snapshot && P.snapshot.state === "lobby") {
    P.layoutKey = renderLobby(P.snapshot, Number(P.snapshot.participant_count) || 0);
    fitView(P.layoutKey);
  } else {
    renderNamesToggle();
  }
}

function renderNamesToggle() {
  setT("pj-names-toggle", P.namesShown ? "pj.names_hide" : "pj.names_show");
}

$("pj-names-toggle").addEventListener("click", () => setNamesShown(!P.namesShown));
// N hides or shows the names (a projector has a keyboard, rarely a mouse within reach).
document.addEventListener("keydown", (ev) => {
  if (ev.key.toLowerCase() !== "n" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.target instanceof HTMLElement && ev.target.closest("input, textarea, select")) return;
  setNamesShown(!P.namesShown);
});

/**
 * The newest names: `newest_names` (newest first) when the server sends it; otherwise the
 * names the snapshot has (its top 10, which in the lobby is everyone by name).
 */
function lobbyNames(msg) {
  if (Array.isArray(msg.newest_names)) return msg.newest_names.filter((n) => typeof n === "string");
  return (msg.leaderboard || []).map((r) => r.name).filter((n) => typeof n === "string");
}

function renderLobby(msg, count) {
  setText("pj-count-num", formatNumber(count));
  setT("pj-count-label", "pj.joined", { count });
  setQr(msg.qr_url);
  renderNamesToggle();
  const names = P.namesShown ? lobbyNames(msg).slice(0, NAMES_SHOWN) : [];
  $("pj-arrivals").hidden = count === 0;
  $("pj-names-h").hidden = !P.namesShown;
  // Hidden names are not in the page at all, so nothing reads them out either.
  setChildren(
    $("pj-names"),
    names.map((name) => el("li", { class: `pj-name-chip${P.seenNames.has(name) ? "" : " is-new"}`, dir: "auto" }, name)),
  );
  for (const name of names) P.seenNames.add(name);
  const more = count - names.length;
  if (!P.namesShown) setT("pj-names-note", "pj.names_hidden");
  else if (more > 0 && names.length > 0) setT("pj-names-note", "pj.more_names", { count: more });
  else setText("pj-names-note", "");
  return `lobby|${P.namesShown}|${names.join("|")}|${count > 0}|${more > 0}`;
}

function setQr(url) {
  const img = $("pj-qr");
  if (typeof url !== "string" || !url.startsWith("data:image/")) {
    img.hidden = true;
    return;
  }
  if (url !== P.qrUrl) {
    P.qrUrl = url;
    img.src = url;
  }
  img.hidden = false;
}

// ------------------------------------------------------------------ question / reveal

const CHOICE_TYPES = new Set(["single", "multiple", "true_false", "poll"]);

function questionType(q) {
  return q.question_type || "single";
}

function isOpenPoll(q) {
  return questionType(q) === "poll" && (q.open === true || questionKeys(q).length === 0);
}

/** The right answer in words, for the announcement (letters, True/False, a number, a text). */
function correctText(q, reveal) {
  const type = questionType(q);
  const correct = reveal.correct;
  if (type === "numeric") return numericAnswerText(correct, q.unit || "");
  if (type === "text") return Array.isArray(correct) ? correct.join(", ") : "";
  return Array.from(correctKeySet(type, correct))
    .map((k) => keyLabel(type, k))
    .join(", ");
}

function renderQuestion(msg, receivedAt) {
  const q = msg.question;
  const type = questionType(q);
  const open = msg.state !== "question_closed";
  const paused = open && (msg.state === "question_paused" || q.paused === true);
  const skipped = !open && q.skipped === true;
  const reveal = !open && !skipped && msg.reveal ? msg.reveal : null;
  const live = msg.live_histogram || null;
  const waiting = open && !paused ? Number(msg.waiting_for_extra_time) || 0 : 0;
  const phase = open ? (paused ? "paused" : "open") : skipped ? "skipped" : "reveal";

  const view = $("pj-question");
  view.dataset.type = isOpenPoll(q) ? "open_poll" : type;
  view.dataset.phase = phase;
  view.classList.toggle("is-open", open);
  view.classList.toggle("is-reveal", !open);

  renderQuestionHead(msg, q, type);
  const contentKey = `${q.idx}:${q.opened_at_server_ts}`;
  if (contentKey !== P.questionKey) renderQuestionContent(q);
  P.questionKey = contentKey;

  renderClock(q, { open, paused, waiting, skipped }, receivedAt);
  const tally = optionTally(q, type, { skipped, reveal, live });
  renderOptions(q, type, reveal, tally);
  const banner = skipped ? "pj.skipped_banner" : null;
  if (banner) setT("pj-banner", banner);
  $("pj-banner").hidden = !banner;

  // Counts: "N of M answered" while open; how many answered once closed.
  if (reveal && tally) setT("pj-missed", "pj.missed_count", { count: tally.missed });
  else setText("pj-missed", "");
  const meter = $("pj-meter");
  meter.hidden = !(open && live);
  if (live && !skipped) {
    const submitted = Number(live.submitted_count) || 0;
    const expected = Number(live.total_count) || 0;
    if (open) setT("pj-answer-count", "pj.answered_of", { count: submitted, total: expected });
    else setT("pj-answer-count", "pj.answered", { count: submitted });
    $("pj-meter-fill").style.inlineSize = `${expected > 0 ? Math.min(100, (submitted / expected) * 100) : 0}%`;
  } else {
    setText("pj-answer-count", "");
  }

  const shape = renderResults(q, type, { open, skipped, reveal, live });

  const rt = msg.response_time_distribution;
  const showRt = !!reveal && rt && Array.isArray(rt.buckets) && rt.buckets.length > 0;
  $("pj-rt-card").hidden = !showRt;
  if (showRt) rtBars.update(mergePairs(rt.buckets).map((b, i) => ({ key: String(i), label: rangeLabel(b.label), count: b.count })));
  else rtBars.clear();

  const explanation = reveal ? reveal.explanation_html || reveal.explanation || "" : "";
  if (explanation) setRenderedHtml($("pj-explanation"), reveal.explanation_html, reveal.explanation);
  else setText("pj-explanation", "");
  $("pj-explanation-wrap").hidden = !explanation;

  // After the reveal: the top 5 by name (the snapshot never carries student ids); the
  // leaderboard between questions shows the top 10.
  const top = reveal ? (msg.leaderboard || []).slice(0, 5) : [];
  $("pj-reveal-top-card").hidden = top.length === 0;
  setChildren($("pj-reveal-top"), top.map(topItem));

  return [contentKey, phase, shape, showRt, !!explanation, top.length, waiting > 0].join("|");
}

function renderQuestionHead(msg, q, type) {
  const total = q.total_questions || (msg.pool_meta && msg.pool_meta.question_count);
  if (total) setT("pj-q-num", "question.counter", { n: Number(q.idx) + 1, total: Number(total) });
  else setT("pj-q-num", "question.counter_open_end", { n: Number(q.idx) + 1 });
  const hint = {
    multiple: ["pj.hint_multiple"],
    numeric: q.unit ? ["pj.hint_numeric_unit", { unit: q.unit }] : ["pj.hint_numeric"],
    text: ["pj.hint_text"],
    poll: isOpenPoll(q) ? ["pj.hint_open_poll"] : ["pj.hint_poll"],
  }[type];
  const points = Number(q.points);
  const parts = [];
  if (hint) parts.push(t(hint[0], hint[1] || {}));
  if (q.scored !== false && Number.isFinite(points) && points !== 1) parts.push(pointsText(points));
  setText("pj-q-hint", parts.join(" · "));
}

function renderQuestionContent(q) {
  setRenderedHtml($("pj-q-text"), q.text_html, q.text);
  const figure = $("pj-q-figure");
  const img = $("pj-q-img");
  if (q.image && typeof q.image.url === "string") {
    img.src = q.image.url;
    img.alt = String(q.image.alt || "");
    figure.hidden = false;
  } else {
    img.removeAttribute("src");
    img.alt = "";
    figure.hidden = true;
  }
  $("pj-q-body").classList.toggle("has-figure", !figure.hidden);
}

function renderClock(q, { open, paused, waiting, skipped }, receivedAt) {
  // Restart the countdown when the question (or its timing) changes; otherwise re-sync only
  // on real drift so frequent snapshots do not make it jitter. Paused: stopped, time frozen.
  const key = `${q.idx}:${q.opened_at_server_ts}:${q.time_limit}:${paused}`;
  if (open && !paused) {
    if (key !== P.countdownKey) countdown.start(q.remaining_ms, receivedAt);
    else countdown.resync(q.remaining_ms);
  } else {
    countdown.stop();
    if (paused) {
      setText("pj-timer-text", fmtCountdown(Number(q.remaining_ms) || 0));
      $("pj-timer").classList.remove("urgent", "done");
    }
  }
  P.countdownKey = key;
  $("pj-timer").hidden = !open;
  $("pj-timer").classList.toggle("is-paused", paused);
  const status = $("pj-status");
  status.classList.remove("is-paused", "is-waiting", "is-skipped");
  if (paused) {
    setT(status, "pj.paused");
    status.classList.add("is-paused");
  } else if (waiting > 0) {
    setT(status, "pj.waiting_extra", { count: waiting });
    status.classList.add("is-waiting");
  } else if (skipped) {
    setT(status, "pj.skipped");
    status.classList.add("is-skipped");
  } else {
    setText(status, "");
  }
  status.hidden = !paused && waiting === 0 && !skipped;
}

/** Options two to a row (three for five or six); fitView may try them all in one row. */
function optionColumns(keys) {
  if (keys.length <= 2) return keys.length;
  return keys.length <= 4 ? 2 : 3;
}

function renderOptions(q, type, reveal, tally) {
  const keys = CHOICE_TYPES.has(type) ? questionKeys(q) : [];
  const list = $("pj-options");
  list.hidden = keys.length === 0;
  if (!keys.length) {
    list.replaceChildren();
    P.optionsKey = null;
    return;
  }
  const right = reveal ? correctKeySet(type, reveal.correct) : new Set();
  const marked = right.size > 0;
  const signature = `${P.questionKey}|${Array.from(right).join(",")}|${tally ? 1 : 0}`;
  if (signature !== P.optionsKey) {
    P.optionsKey = signature;
    list.dataset.cols = String(optionColumns(keys));
    list.style.setProperty("--cols", list.dataset.cols);
    const html = q.options_html || {};
    const images = q.option_images || {};
    setChildren(
      list,
      keys.map((k) => {
        const text = el("span", { class: "pj-opt-text", dir: "auto" });
        if (type === "true_false") setText(text, keyLabel(type, k));
        else setRenderedHtml(text, html[k], q.options[k]);
        const image = images[k];
        return el(
          "li",
          { class: `pj-option opt-${k}${marked ? (right.has(k) ? " is-correct" : " is-wrong") : ""}`, dataset: { key: k } },
          el(
            "span",
            { class: "pj-opt-main" },
            type === "true_false" ? null : el("span", { class: "pj-opt-letter", "aria-hidden": "true" }, k),
            type === "true_false" ? null : el("span", { class: "visually-hidden" }, `${k}: `),
            text,
            image && typeof image.url === "string"
              ? el("img", { class: "pj-opt-img", src: image.url, alt: String(image.alt || ""), onload: refitAfterImage })
              : null,
          ),
          right.has(k) ? tEl("span", { class: "pj-opt-mark" }, "pj.correct_mark") : null,
          tally ? el("span", { class: "pj-opt-count" }) : null,
          tally ? el("span", { class: "pj-opt-fill", "aria-hidden": "true" }) : null,
        );
      }),
    );
  }
  if (!tally) return;
  for (const tile of list.children) {
    const count = Number(tally.counts[tile.dataset.key]) || 0;
    tile.querySelector(".pj-opt-count").textContent =
      tally.total > 0 ? t("chart.count_percent", { count, percent: formatPercent(count / tally.total) }) : formatNumber(count);
    tile.querySelector(".pj-opt-fill").style.inlineSize = `${tally.total > 0 ? (count / tally.total) * 100 : 0}%`;
  }
}

/**
 * A choice question's counts when they may be shown (at the reveal; while open only for polls
 * and live results), with the total percentages are of: those who answered, and at the reveal
 * those who did not. Null otherwise: then no count is put in the page at all.
 */
function optionTally(q, type, { skipped, reveal, live }) {
  const keys = CHOICE_TYPES.has(type) ? questionKeys(q) : [];
  const counts = reveal ? reveal.histogram : live && live.counts;
  if (skipped || !keys.length || !counts || typeof counts !== "object") return null;
  const submitted = Number(live && live.submitted_count) || keys.reduce((a, k) => a + (Number(counts[k]) || 0), 0);
  const missed = reveal ? Number(counts.missed) || 0 : 0;
  return { counts, missed, total: submitted + missed };
}

/**
 * The answers' spread, per type and phase. Choice types: bars per option in the side column
 * (while open only for polls or live results; otherwise the counts are not in the page at all).
 * Numeric: a histogram with the right range marked; text: the top answers; open polls: a word
 * cloud (live, there is nothing to give away). Returns a key of what is shown, for fitting.
 */
function renderResults(q, type, { open, skipped, reveal, live }) {
  const counts = reveal ? reveal.histogram : live && live.counts;
  const distribution = reveal ? reveal.distribution : live && live.distribution;
  const keys = CHOICE_TYPES.has(type) ? questionKeys(q) : [];
  const result = $("pj-result");
  const answerLine = $("pj-answer-line");
  const note = $("pj-result-note");
  let shape = "none";

  // Side column: option bars.
  const tally = optionTally(q, type, { skipped, reveal, live });
  $("pj-answers-card").hidden = !tally;
  if (tally) {
    const right = reveal ? correctKeySet(type, reveal.correct) : new Set();
    const items = keys.map((k) => ({ key: k, label: keyLabel(type, k), count: tally.counts[k] || 0, correct: right.has(k) }));
    if (reveal) items.push({ key: "missed", label: t("pj.no_answer"), count: tally.missed, muted: true });
    answerBars.update(items, { total: tally.total });
    shape = `bars${items.length}`;
  } else {
    answerBars.clear();
  }

  // Main column: the other types' results.
  let showAnswerLine = false;
  let showResultBars = false;
  let showCloud = false;
  let noteKey = null;
  let noteParams = null;
  if (!skipped && isOpenPoll(q) && distribution && Array.isArray(distribution.top)) {
    shape = renderCloud($("pj-cloud"), distribution.top);
    showCloud = true;
    if (Number(distribution.distinct) > 0) [noteKey, noteParams] = ["pj.distinct", { count: Number(distribution.distinct) }];
  } else if (!skipped && type === "numeric" && reveal) {
    const bins = (distribution && Array.isArray(distribution.bins) ? distribution.bins : []).slice(0, 10);
    const range = (reveal.correct && reveal.correct.range) || (distribution && distribution.right);
    setT(answerLine, "pj.correct_answer_is", { answer: numericAnswerText(reveal.correct, q.unit || "") });
    showAnswerLine = true;
    if (bins.length) {
      const decimals = binDecimals(bins);
      resultBars.update(
        bins.map((b, i) => ({ key: String(i), label: binLabel(b, decimals), count: b.count, correct: binInRange(b, range) })),
      );
      showResultBars = true;
      [noteKey, noteParams] = ["pj.numeric_legend", {}];
    } else {
      [noteKey, noteParams] = ["pj.no_answers", {}];
    }
    shape = `hist${bins.length}`;
  } else if (!skipped && type === "numeric" && distribution && Array.isArray(distribution.bins) && distribution.bins.length) {
    // Live results asked for by the pool: the spread, never the right range, before the reveal.
    const bins = distribution.bins.slice(0, 10);
    const decimals = binDecimals(bins);
    resultBars.update(bins.map((b, i) => ({ key: String(i), label: binLabel(b, decimals), count: b.count })));
    showResultBars = true;
    shape = `hist${bins.length}`;
  } else if (!skipped && type === "text" && (reveal || (distribution && Array.isArray(distribution.top)))) {
    const top = (distribution && Array.isArray(distribution.top) ? distribution.top : []).slice(0, TOP_ANSWERS);
    const accepted = reveal && Array.isArray(reveal.correct) ? reveal.correct : [];
    const folded = new Set(accepted.map(foldAnswer));
    if (reveal) {
      setT(answerLine, "pj.accepted_answers", { answers: accepted.join(" · ") });
      showAnswerLine = true;
    }
    if (top.length) {
      resultBars.update(
        top.map((e, i) => ({
          key: String(i),
          label: e.text,
          count: e.count,
          correct: reveal ? (typeof e.correct === "boolean" ? e.correct : folded.has(foldAnswer(e.text))) : false,
        })),
      );
      showResultBars = true;
      if (Number(distribution.distinct) > top.length) [noteKey, noteParams] = ["pj.distinct", { count: Number(distribution.distinct) }];
    } else {
      [noteKey, noteParams] = ["pj.no_answers", {}];
    }
    shape = `top:${top.map((e) => e.text).join("|")}`;
  }
  answerLine.hidden = !showAnswerLine;
  $("pj-result-bars").hidden = !showResultBars;
  $("pj-result-bars").classList.toggle("pj-bars-text", type === "text");
  if (!showResultBars) resultBars.clear();
  $("pj-cloud").hidden = !showCloud;
  if (!showCloud) $("pj-cloud").replaceChildren();
  if (noteKey) setT(note, noteKey, noteParams);
  note.hidden = !noteKey;
  result.hidden = !showAnswerLine && !showResultBars && !showCloud && !noteKey;
  return shape;
}

function topItem(r) {
  return el(
    "li",
    { class: `pj-top10-row${Number(r.rank) === 1 ? " is-first" : ""}`, value: Number(r.rank) || null },
    el("span", { class: "pj-top10-rank" }, formatNumber(r.rank)),
    el("span", { class: "pj-top10-name", dir: "auto" }, r.name),
    el("span", { class: "pj-top10-score" }, fmtScore(r.score)),
  );
}

// ------------------------------------------------------------------ leaderboard / finish

function boardItem(r) {
  return el(
    "li",
    { class: `pj-board-row${Number(r.rank) === 1 ? " is-first" : ""}`, value: Number(r.rank) || null },
    el("span", { class: "pj-rank" }, formatNumber(r.rank)),
    el("span", { class: "pj-name", dir: "auto" }, r.name),
    el("span", { class: "pj-score" }, fmtScore(r.score)),
  );
}

function renderBoard(rows) {
  const top = rows.slice(0, 10);
  const board = $("pj-leaderboard");
  board.classList.toggle("is-two-columns", top.length > 5);
  setChildren(board, top.length ? top.map(boardItem) : tEl("li", { class: "pj-empty muted" }, "common.no_scores"));
  return `board|${top.length}`;
}

const PODIUM_NAMES = 4; // names on one step before "+N more"

/**
 * The podium: one step per rank among the top three places, so players with the same score
 * stand on the same step (ranks 1, 1, 3: two names on the first step, none on the second).
 */
function podiumSteps(rows) {
  const steps = new Map();
  for (const r of rows) {
    const rank = Number(r.rank);
    if (!Number.isFinite(rank) || rank > 3) continue;
    if (!steps.has(rank)) steps.set(rank, []);
    steps.get(rank).push(r);
  }
  return Array.from(steps.entries()).sort((a, b) => a[0] - b[0]);
}

function renderFinished(msg) {
  const rows = msg.leaderboard || [];
  const steps = podiumSteps(rows);
  const podium = steps.map(([rank, players]) => {
    const shown = players.slice(0, PODIUM_NAMES);
    return el(
      "li",
      { class: `pj-podium-place place-${rank}`, value: rank },
      el(
        "ul",
        { class: "pj-podium-names" },
        shown.map((r) => el("li", { class: "pj-podium-name", dir: "auto" }, r.name)),
        players.length > shown.length ? tEl("li", { class: "pj-podium-more" }, "pj.more_names", { count: players.length - shown.length }) : null,
      ),
      el("span", { class: "pj-podium-score" }, pointsText(players[0].score)),
      el("span", { class: "pj-podium-block", "aria-hidden": "true" }, formatNumber(rank)),
      tEl("span", { class: "visually-hidden" }, "pj.rank", { rank }),
    );
  });
  setChildren($("pj-podium"), podium.length ? podium : tEl("li", { class: "pj-empty muted" }, "pj.nobody_scored"));
  const onPodium = steps.reduce((a, [, players]) => a + players.length, 0);
  const rest = rows.slice(onPodium, 10);
  setChildren($("pj-rest"), rest.map(boardItem));
  $("pj-rest").hidden = rest.length === 0;

  const sd = msg.score_distribution;
  const hasDist = sd && Array.isArray(sd.buckets) && sd.buckets.length > 0 && Number(sd.n) > 0;
  $("pj-dist-card").hidden = !hasDist;
  P.scoreBuckets = hasDist ? sd.buckets : [];
  showScoreDistribution(P.scoreCoarse);
  if (hasDist) setT("pj-score-caption", "pj.score_caption", { max: Number(sd.max_total) || 0, count: Number(sd.n) || 0 });
  return `final|${steps.map(([rank, players]) => `${rank}:${players.length}`).join(",")}|${rest.length}|${hasDist}`;
}

/** The final score distribution, in its ten bins or (`coarse`) merged pairwise into five. */
function showScoreDistribution(coarse) {
  P.scoreCoarse = coarse;
  const buckets = P.scoreBuckets || [];
  if (!buckets.length) {
    scoreBars.clear();
    return !coarse;
  }
  const shown = coarse ? mergePairs(buckets) : buckets;
  if (coarse && shown === buckets) return false;
  scoreBars.update(shown.map((b, i) => ({ key: String(i), label: rangeLabel(b.label), count: b.count })));
  return true;
}

// ------------------------------------------------------------------ socket

const sock = new ReconnectingSocket(wsUrl("/ws/projector"), {
  onMessage: (msg, receivedAt) => {
    if (msg.type === "projector_state") onSnapshot(msg, receivedAt);
  },
  onStatus: bindConnectionStatus($("conn"), { announceChanges: false }),
  onFatal: (code) => {
    // The projector is public; the server is not expected to refuse it. Try again later.
    setT("conn", "conn.stopped_code", { code: String(code) });
    window.setTimeout(() => sock.start(), 10000);
  },
});
sock.start();
