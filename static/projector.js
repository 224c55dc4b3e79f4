// Projector page: public, read-only big-screen view driven by projector_state snapshots.
import {
  $,
  announce,
  BarChart,
  bindConnectionStatus,
  Countdown,
  el,
  fmtCountdown,
  fmtScore,
  optionKeys,
  pointsText,
  ReconnectingSocket,
  ServerClock,
  setChildren,
  setText,
  tEl,
  wsUrl,
} from "/static/common.js";
import { formatNumber, initPageLanguage, setT, t } from "/static/i18n.js";

// The projector speaks the server's configured language (--lang / QUIZ_LANG / the pool's
// "language"), served in <meta name="quiz-language">; `?lang=` overrides it for a preview.
await initPageLanguage();

const VIEWS = ["pj-loading", "pj-lobby", "pj-question", "pj-board", "pj-finished"];

const P = {
  state: null,
  qrUrl: null,
  questionKey: null,
  snapshot: null,
};

const clock = new ServerClock();

const answerBars = new BarChart($("pj-bars"), { showPercent: true });
const rtBars = new BarChart($("pj-rt-bars"), { vertical: true });
const scoreBars = new BarChart($("pj-score-bars"), { vertical: true });

const countdown = new Countdown((ms) => {
  setText("pj-timer-text", fmtCountdown(ms));
  $("pj-timer").classList.toggle("urgent", ms > 0 && ms <= 5000);
  $("pj-timer").classList.toggle("done", ms <= 0);
});

function showView(id) {
  for (const v of VIEWS) $(v).hidden = v !== id;
}

// ------------------------------------------------------------------ snapshot

function onSnapshot(msg, receivedAt) {
  P.snapshot = msg;
  if (msg.server_ts) clock.observe(msg.server_ts);
  if (msg.title) {
    setText("pj-title", msg.title);
    setT(document.querySelector("title"), "pj.doc_title_quiz", { title: msg.title });
  }

  const count = Number(msg.participant_count) || 0;
  setText("pj-count-num", formatNumber(count));
  setT("pj-count-label", "pj.joined", { count });
  setText("pj-join-url", msg.join_url || "");
  setText("pj-foot-url", msg.join_url || "");
  setT("pj-foot-count", "pj.players", { count });
  setQr(msg.qr_url);

  const total = (msg.question && msg.question.total_questions) || (msg.pool_meta && msg.pool_meta.question_count) || null;
  const q = msg.question;
  const onQuestion = (msg.state === "question_open" || msg.state === "question_closed") && q;
  if (!onQuestion && total) setT("pj-progress", "pj.questions", { count: Number(total) });
  else setText("pj-progress", "");

  const state = msg.state;
  const changed = state !== P.state;
  P.state = state;
  $("pj-foot").hidden = state === "lobby" || !msg.join_url;

  if (state === "lobby") {
    countdown.stop();
    P.questionKey = null;
    showView("pj-lobby");
  } else if ((state === "question_open" || state === "question_closed") && q) {
    renderQuestion(msg, receivedAt);
    showView("pj-question");
  } else if (state === "finished") {
    countdown.stop();
    renderFinished(msg);
    showView("pj-finished");
  } else {
    // between_questions (or a state with no question block): the standings.
    countdown.stop();
    renderBoard(msg.leaderboard || []);
    showView("pj-board");
  }
  fitToScreen();
  if (changed) {
    const label = {
      lobby: () => t("pj.announce_lobby"),
      question_open: () => (q ? t("pj.announce_question", { n: Number(q.idx) + 1, text: q.text }) : t("pj.announce_open")),
      question_closed: () => (msg.reveal ? t("pj.announce_reveal", { answer: msg.reveal.correct }) : t("pj.announce_closed")),
      between_questions: () => t("pj.announce_board"),
      finished: () => t("pj.announce_final"),
    }[state]?.();
    if (label) announce(label);
  }
}

// A long question with long options, the explanation and the top 10 can be taller than
// the screen. On the big screen nothing may be cut off or need scrolling, so the view is
// scaled down (CSS zoom, set through the CSSOM, which the CSP allows) until it fits.
// Narrow windows (a laptop preview, see projector.css) stack and scroll instead.
const narrowScreen = window.matchMedia("(max-aspect-ratio: 4/3)");
const MIN_ZOOM = 0.5;

function fitToScreen() {
  const main = $("main");
  const view = VIEWS.map((id) => $(id)).find((v) => !v.hidden);
  for (const id of VIEWS) if ($(id) !== view) $(id).style.zoom = "";
  if (!view) return;
  view.style.zoom = "";
  const fits = () => main.scrollHeight <= main.clientHeight + 1;
  if (narrowScreen.matches || fits()) return;
  // Text reflows as it shrinks, so search for the largest zoom that fits.
  let lo = MIN_ZOOM;
  let hi = 1;
  for (let i = 0; i < 7; i += 1) {
    const mid = (lo + hi) / 2;
    view.style.zoom = String(mid);
    if (fits()) lo = mid;
    else hi = mid;
  }
  view.style.zoom = String(lo);
}

window.addEventListener("resize", () => fitToScreen());

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

function renderQuestion(msg, receivedAt) {
  const q = msg.question;
  const open = msg.state === "question_open";
  const reveal = !open && msg.reveal ? msg.reveal : null;
  const correct = reveal ? reveal.correct : null;
  const keys = optionKeys(q.options);

  const view = $("pj-question");
  view.classList.toggle("is-open", open);
  view.classList.toggle("is-reveal", !open);

  const total = q.total_questions || (msg.pool_meta && msg.pool_meta.question_count);
  if (total) setT("pj-q-num", "question.counter", { n: Number(q.idx) + 1, total: Number(total) });
  else setT("pj-q-num", "question.counter_open_end", { n: Number(q.idx) + 1 });
  setText("pj-q-text", q.text);

  // Countdown: restart when the question (or its opening) changes, otherwise
  // only re-sync on real drift so that frequent snapshots do not make it jitter.
  const key = `${q.idx}:${q.opened_at_server_ts}`;
  if (open) {
    if (key !== P.questionKey) countdown.start(q.remaining_ms, receivedAt);
    else countdown.resync(q.remaining_ms);
    $("pj-timer").hidden = false;
  } else {
    countdown.stop();
    $("pj-timer").hidden = true;
  }
  P.questionKey = key;

  setChildren(
    $("pj-options"),
    keys.map((k) =>
      el(
        "li",
        { class: `pj-option opt-${k}${correct ? (k === correct ? " is-correct" : " is-wrong") : ""}` },
        el("span", { class: "pj-opt-letter", "aria-hidden": "true" }, k),
        el("span", { class: "visually-hidden" }, `${k}: `),
        el("span", { class: "pj-opt-text", dir: "auto" }, q.options[k]),
        k === correct ? tEl("span", { class: "pj-opt-mark" }, "pj.correct_mark") : null,
      ),
    ),
  );

  const lh = msg.live_histogram;
  const counts = (lh && lh.counts) || {};
  const items = keys.map((k) => ({
    key: k,
    label: k,
    count: counts[k] || 0,
    className: `bar-${k}${k === correct ? " bar-correct" : ""}${correct && k !== correct ? " bar-dim" : ""}`,
    note: k === correct ? t("current.correct_note") : "",
  }));
  if (!open) items.push({ key: "missed", label: t("pj.no_answer"), count: counts.missed || 0, className: "bar-muted" });
  answerBars.update(items);
  if (lh) {
    const submitted = Number(lh.submitted_count) || 0;
    if (open) setT("pj-answer-count", "pj.answered_of", { count: submitted, total: Number(lh.total_count) || 0 });
    else setT("pj-answer-count", "pj.answered", { count: submitted });
  } else {
    setText("pj-answer-count", "");
  }

  const rt = msg.response_time_distribution;
  const showRt = !open && rt && Array.isArray(rt.buckets) && rt.buckets.length > 0;
  $("pj-rt-card").hidden = !showRt;
  if (showRt) {
    rtBars.update(rt.buckets.map((b, i) => ({ key: String(i), label: rangeLabel(b.label), count: b.count })));
  }

  const explanation = reveal && reveal.explanation ? reveal.explanation : "";
  setText("pj-explanation", explanation);
  $("pj-explanation-wrap").hidden = !explanation;

  // After the reveal: the top 10 by name (the snapshot never carries student ids).
  const top = open ? [] : (msg.leaderboard || []).slice(0, 10);
  $("pj-reveal-top-card").hidden = top.length === 0;
  setChildren($("pj-reveal-top"), top.map(topItem));
}

function topItem(r) {
  return el(
    "li",
    { class: "pj-top10-row" },
    el("span", { class: "pj-top10-rank" }, formatNumber(r.rank)),
    el("span", { class: "pj-top10-name", dir: "auto" }, r.name),
    el("span", { class: "pj-top10-score" }, fmtScore(r.score)),
  );
}

/**
 * A bucket label from the server ("0-2.5s", "0.0-1.0") in the page's locale ("0–2,5 s"),
 * allowed to wrap after the dash in a narrow column. A label of another shape is shown as is.
 */
function rangeLabel(label) {
  const match = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)(s?)$/.exec(String(label ?? ""));
  if (!match) return String(label ?? "");
  const [, from, to, seconds] = match;
  const text = t(seconds ? "chart.range_seconds" : "chart.range", { from: Number(from), to: Number(to) });
  return text.replace("–", "–\u200b");
}

// ------------------------------------------------------------------ leaderboard / finish

function boardItem(r) {
  return el(
    "li",
    { class: "pj-board-row" },
    el("span", { class: "pj-rank" }, formatNumber(r.rank)),
    el("span", { class: "pj-name", dir: "auto" }, r.name),
    el("span", { class: "pj-score" }, fmtScore(r.score)),
  );
}

function renderBoard(rows) {
  const top = rows.slice(0, 10);
  setChildren($("pj-leaderboard"), top.length ? top.map(boardItem) : tEl("li", { class: "pj-empty muted" }, "common.no_scores"));
}

function renderFinished(msg) {
  const rows = msg.leaderboard || [];
  const podium = rows.slice(0, 3).map((r, i) =>
    el(
      "li",
      { class: `pj-podium-place place-${i + 1}` },
      el("span", { class: "pj-podium-name", dir: "auto" }, r.name),
      el("span", { class: "pj-podium-score" }, pointsText(r.score)),
      el("span", { class: "pj-podium-block", "aria-hidden": "true" }, formatNumber(r.rank)),
      tEl("span", { class: "visually-hidden" }, "pj.rank", { rank: Number(r.rank) }),
    ),
  );
  setChildren($("pj-podium"), podium.length ? podium : tEl("li", { class: "pj-empty muted" }, "pj.nobody_scored"));
  setChildren($("pj-rest"), rows.slice(3, 10).map(boardItem));

  const sd = msg.score_distribution;
  const hasDist = sd && Array.isArray(sd.buckets) && sd.buckets.length > 0;
  $("pj-score-bars").closest(".pj-card").hidden = !hasDist;
  if (hasDist) {
    scoreBars.update(sd.buckets.map((b, i) => ({ key: String(i), label: rangeLabel(b.label), count: b.count })));
    setT("pj-score-caption", "pj.score_caption", { max: Number(sd.max_total) || 0, count: Number(sd.n) || 0 });
  }
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
