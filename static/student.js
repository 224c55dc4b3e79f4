// Student page: join, answer, see results. Phone first.
import {
  $,
  announce,
  bindConnectionStatus,
  Countdown,
  el,
  fetchJson,
  fmtCountdown,
  fmtScore,
  optionKeys,
  ReconnectingSocket,
  roundScore,
  setChildren,
  setText,
  tEl,
  wsUrl,
} from "/static/common.js";
import { hasKey, initPageLanguage, setT, t } from "/static/i18n.js";

// The student's own choice in the language menu; without one the page follows the browser.
const LANGUAGE_KEY = "quizctl.language.student";

const VIEWS = ["view-loading", "view-join", "view-lobby", "view-question", "view-reveal", "view-between", "view-ended"];

const S = {
  me: null, // {student_id, name, total_score}
  sock: null,
  view: "view-loading",
  sessionState: null,
  title: "",
  question: null, // {idx, text, options, time_limit, total_questions}
  questions: new Map(), // idx -> question, for the reveal
  totalQuestions: null,
  ack: null, // submit_ack for the current question
  pending: null, // {idx, answer} sent, not yet acknowledged
  locked: false,
  timeUp: false,
  lastTop5: [],
  gotMessageSinceConnect: false,
  justJoined: false,
};

const statusHandler = bindConnectionStatus($("conn"));

const countdown = new Countdown(
  (ms) => {
    setText("timer-text", fmtCountdown(ms));
    const limit = S.question ? Number(S.question.time_limit) * 1000 : 0;
    const fill = $("timer-fill");
    if (fill) fill.style.width = limit > 0 ? `${Math.min(100, (ms / limit) * 100)}%` : "0%";
    document.querySelector(".timer")?.classList.toggle("urgent", ms > 0 && ms <= 5000);
  },
  () => {
    if (S.view !== "view-question" || S.ack) return;
    S.timeUp = true;
    lockAnswers();
    setT("question-status", S.pending ? "question.sending" : "question.time_up");
    if (!S.pending) announce(t("question.time_up_short"));
  },
);

// ------------------------------------------------------------------ views

function showView(id) {
  const active = document.activeElement;
  const lostFocus = active && active !== document.body && VIEWS.some((v) => v !== id && $(v).contains(active));
  for (const v of VIEWS) $(v).hidden = v !== id;
  S.view = id;
  if (id !== "view-question") countdown.stop();
  if (lostFocus) {
    const heading = $(id).querySelector("h2");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }
}

function setTitle(title) {
  if (!title) return;
  S.title = title;
  setText("quiz-title", title);
  setT(document.querySelector("title"), "student.doc_title_quiz", { title });
}

function renderWho() {
  const who = $("who");
  if (!S.me) {
    who.hidden = true;
    return;
  }
  who.hidden = false;
  setT(who, "student.who", { name: S.me.name, count: roundScore(S.me.total_score ?? 0) });
  setT("lobby-who", "lobby.joined_as", { name: S.me.name, id: S.me.student_id });
}

function showLoading(key) {
  setT("loading-msg", key);
  showView("view-loading");
}

/** "Question 3 of 10" (or "Question 3" before the total is known), as [key, params] for setT. */
function counter(idx) {
  return S.totalQuestions ? ["question.counter", { n: idx + 1, total: S.totalQuestions }] : ["question.counter_open_end", { n: idx + 1 }];
}

/** The text for a refusal: the catalog's for a known code, else the server's own words. */
function errorText(code, serverMessage) {
  if (code && hasKey(`errors.${code}`)) return t(`errors.${code}`);
  return serverMessage || t("errors.unknown");
}

// ------------------------------------------------------------------ join

function fieldError(inputId, errorId, message) {
  const input = $(inputId);
  const err = $(errorId);
  if (message) {
    setText(err, message);
    err.hidden = false;
    input.setAttribute("aria-invalid", "true");
  } else {
    err.textContent = "";
    err.hidden = true;
    input.removeAttribute("aria-invalid");
  }
}

function formError(message) {
  const node = $("join-error");
  setText(node, message || "");
  node.hidden = !message;
}

/** Back to the join form; `notice` is a catalog key saying why (or empty). */
function showJoin(notice = "") {
  stopSocket();
  S.question = null;
  S.ack = null;
  S.pending = null;
  const n = $("join-notice");
  if (notice) setT(n, notice);
  else setText(n, "");
  n.hidden = !notice;
  if (S.me) {
    // Convenience after a reset: the same device usually re-joins as the same person.
    if (!$("student-id").value) $("student-id").value = S.me.student_id;
    if (!$("student-name").value) $("student-name").value = S.me.name;
  }
  S.me = null;
  renderWho();
  $("join-button").disabled = false;
  showView("view-join");
  if (notice) announce(t(notice));
}

// Which field a join refusal is about; the rest are shown under the button.
const ID_ERRORS = new Set(["bad_student_id", "duplicate_student_id", "not_on_roster"]);
const NAME_ERRORS = new Set(["bad_name"]);

async function onJoinSubmit(ev) {
  ev.preventDefault();
  formError("");
  const studentId = $("student-id").value.trim();
  const name = $("student-name").value.trim();
  fieldError("student-id", "student-id-error", studentId ? "" : t("join.id_missing"));
  fieldError("student-name", "student-name-error", name ? "" : t("join.name_missing"));
  if (!studentId) {
    $("student-id").focus();
    return;
  }
  if (!name) {
    $("student-name").focus();
    return;
  }
  const button = $("join-button");
  button.disabled = true;
  setT(button, "join.button_busy");
  try {
    const res = await fetchJson("/join", { method: "POST", body: { student_id: studentId, name } });
    if (res.ok && res.data) {
      S.me = { student_id: res.data.student_id ?? studentId, name: res.data.name ?? name, total_score: 0 };
      $("join-notice").hidden = true;
      S.justJoined = true;
      renderWho();
      showLoading("loading.joining");
      startSocket();
      return;
    }
    const code = String((res.data && res.data.error) || (res.status === 429 ? "rate_limited" : ""));
    const serverMessage = res.data && res.data.message;
    if (ID_ERRORS.has(code)) {
      fieldError("student-id", "student-id-error", errorText(code, serverMessage));
      $("student-id").focus();
    } else if (NAME_ERRORS.has(code)) {
      fieldError("student-name", "student-name-error", errorText(code, serverMessage));
      $("student-name").focus();
    } else if (code) {
      formError(errorText(code, serverMessage));
    } else {
      formError(t("join.failed_status", { status: String(res.status) }));
    }
  } catch {
    formError(t("join.network"));
  } finally {
    button.disabled = false;
    setT(button, "join.button");
  }
}

// ------------------------------------------------------------------ socket

function startSocket() {
  stopSocket();
  $("conn").hidden = false;
  S.gotMessageSinceConnect = false;
  S.sock = new ReconnectingSocket(wsUrl("/ws/student"), {
    onMessage,
    onStatus: statusHandler,
    onOpen: () => {
      S.gotMessageSinceConnect = false;
    },
    onFatal: (code) => {
      S.sock = null;
      if (code === 4002) {
        showJoin("join.notice_reset");
      } else if (S.justJoined && !S.gotMessageSinceConnect) {
        showJoin("join.notice_no_cookie");
      } else {
        showJoin("join.notice_invalid");
      }
    },
  });
  S.sock.start();
}

function stopSocket() {
  $("conn").hidden = true;
  if (S.sock) {
    const sock = S.sock;
    S.sock = null;
    sock.stop();
  }
  countdown.stop();
}

function onMessage(msg, receivedAt) {
  S.gotMessageSinceConnect = true;
  S.justJoined = false;
  switch (msg.type) {
    case "state":
      return onState(msg);
    case "question_open":
      return onQuestionOpen(msg, receivedAt);
    case "submit_ack":
      return onSubmitAck(msg);
    case "question_closed":
      return onQuestionClosed(msg);
    case "between_questions":
      return onBetween(msg);
    case "session_ended":
      return onEnded(msg);
    case "session_reset":
      return showJoin("join.notice_reset");
    case "error":
      return onError(msg);
    default:
      return undefined; // pong and anything new
  }
}

function onState(msg) {
  setTitle(msg.title);
  // Known before any question arrives, so "question 3 of 10" also reads right after a reload.
  if (msg.total_questions) S.totalQuestions = Number(msg.total_questions);
  const previous = S.sessionState;
  S.sessionState = msg.state;
  if (msg.state === "lobby") {
    S.question = null;
    S.ack = null;
    S.pending = null;
    showView("view-lobby");
    if (previous !== "lobby") announce(t("lobby.waiting"));
  } else if (msg.state === "between_questions") {
    // No payload comes with this state on reconnect: show what we know.
    const nextIdx = msg.current_question_idx === null || msg.current_question_idx === undefined ? null : Number(msg.current_question_idx) + 1;
    renderBetween({ next_idx: nextIdx, top5: S.lastTop5, your_rank: null, your_total: S.me ? S.me.total_score : null });
    refreshMe();
  } else if (S.view === "view-loading" || S.view === "view-join") {
    // question_open / question_closed / finished: the snapshot follows.
    showLoading("loading.current_question");
  }
}

async function refreshMe() {
  try {
    const res = await fetchJson("/me");
    if (res.ok && res.data && S.me) {
      S.me.total_score = res.data.total_score;
      renderWho();
      if (S.view === "view-between" && !$("between-rank").dataset.fromServer) {
        setT("between-rank", "rank.total_only", { count: roundScore(res.data.total_score) });
      }
    }
  } catch {
    /* the socket's state is what matters; ignore */
  }
}

// ------------------------------------------------------------------ question

function onQuestionOpen(msg, receivedAt) {
  const idx = Number(msg.question_idx);
  const q = {
    idx,
    text: msg.text ?? "",
    options: msg.options || {},
    time_limit: Number(msg.time_limit) || 0,
    total_questions: msg.total_questions,
  };
  const sameQuestion = S.question && S.question.idx === idx && S.view === "view-question";
  S.sessionState = "question_open";
  S.question = q;
  S.questions.set(idx, q);
  if (msg.total_questions) S.totalQuestions = Number(msg.total_questions);
  if (!S.ack || S.ack.question_idx !== idx) S.ack = null;
  if (S.pending && S.pending.idx !== idx) S.pending = null;
  S.timeUp = false;

  renderQuestion(q);
  showView("view-question");
  countdown.start(msg.remaining_ms ?? q.time_limit * 1000, receivedAt);
  if (!sameQuestion) announce(t("question.announce", { counter: t(...counter(idx)), text: q.text }));

  if (S.ack) {
    markAnswer(S.ack.answer, ...ackMessage(S.ack));
  } else if (S.pending) {
    // Sent before a reconnect and never acknowledged: send again. The server
    // answers a repeat with the first ack, so this is safe.
    markAnswer(S.pending.answer, "question.sending");
    if (!S.sock || !S.sock.send({ type: "submit", question_idx: idx, answer: S.pending.answer })) {
      S.pending = null;
      unlockAnswers("question.resend_failed");
    }
  } else if (Number(msg.remaining_ms) <= 0) {
    S.timeUp = true;
    lockAnswers();
    setT("question-status", "question.time_up");
  }
}

function renderQuestion(q) {
  setT("question-count", ...counter(q.idx));
  setText("question-text", q.text);
  setText("question-status", "");
  setText("timer-text", fmtCountdown(q.time_limit * 1000));
  const keys = optionKeys(q.options);
  const buttons = keys.map((key) =>
    el(
      "button",
      {
        type: "button",
        class: `answer answer-${key}`,
        dataset: { key },
        "aria-pressed": "false",
        "aria-keyshortcuts": key,
      },
      el("span", { class: "answer-letter", "aria-hidden": "true" }, key),
      tEl("span", { class: "visually-hidden" }, "question.option", { key }),
      " ",
      el("span", { class: "answer-text", dir: "auto" }, q.options[key]),
      el("span", { class: "answer-badge" }),
    ),
  );
  setChildren($("answers"), buttons);
  $("answers").dataset.count = String(keys.length);
  S.locked = false;
  $("answers").classList.remove("locked");
}

function answerButtons() {
  return Array.from($("answers").querySelectorAll("button.answer"));
}

function lockAnswers() {
  S.locked = true;
  $("answers").classList.add("locked");
  for (const b of answerButtons()) b.setAttribute("aria-disabled", "true");
}

/** Unlock the buttons; `status` is a catalog key (or empty), or `statusText` plain text. */
function unlockAnswers(status, statusText = null) {
  S.locked = false;
  $("answers").classList.remove("locked");
  for (const b of answerButtons()) {
    b.removeAttribute("aria-disabled");
    b.setAttribute("aria-pressed", "false");
    b.classList.remove("chosen");
    setText(b.querySelector(".answer-badge"), "");
  }
  if (statusText !== null) setText("question-status", statusText);
  else if (status) setT("question-status", status);
  else setText("question-status", "");
  const said = statusText ?? (status ? t(status) : "");
  if (said) announce(said);
}

/** Mark `answer` as the student's and show the status message `key` (with `params`). */
function markAnswer(answer, key, params = null) {
  lockAnswers();
  for (const b of answerButtons()) {
    const chosen = b.dataset.key === answer;
    b.classList.toggle("chosen", chosen);
    b.setAttribute("aria-pressed", chosen ? "true" : "false");
    const badge = b.querySelector(".answer-badge");
    if (chosen) setT(badge, "question.your_answer");
    else setText(badge, "");
  }
  setT("question-status", key, params);
}

// While the question is open the ack confirms only which answer arrived: no points and no
// right or wrong, which would tell the hall the answer (those come with question_closed).
function ackMessage(ack) {
  return ["question.ack", { answer: ack.answer }];
}

function choose(answer) {
  if (!S.question || S.locked || S.view !== "view-question") return;
  const idx = S.question.idx;
  if (!S.sock || !S.sock.send({ type: "submit", question_idx: idx, answer })) {
    setT("question-status", "question.not_connected");
    announce(t("question.not_connected_short"));
    return;
  }
  S.pending = { idx, answer };
  markAnswer(answer, "question.sending");
}

function onSubmitAck(msg) {
  const idx = Number(msg.question_idx);
  if (S.pending && S.pending.idx === idx) S.pending = null;
  if (!S.question || S.question.idx !== idx) return;
  // The ack's score (if a server still sends one) is deliberately not kept.
  S.ack = { question_idx: idx, answer: msg.answer };
  if (S.view === "view-question") {
    const [key, params] = ackMessage(S.ack);
    markAnswer(msg.answer, key, params);
    announce(t(key, params));
  }
}

function onError(msg) {
  const message = errorText(msg.code, msg.message);
  if (S.pending) {
    S.pending = null;
    if (msg.code === "not_open" || msg.code === "time_expired") {
      lockAnswers();
      for (const b of answerButtons()) {
        b.classList.remove("chosen");
        b.setAttribute("aria-pressed", "false");
        setText(b.querySelector(".answer-badge"), "");
      }
      setText("question-status", message);
      announce(message);
    } else {
      unlockAnswers("", message);
    }
    return;
  }
  if (S.view === "view-question") setText("question-status", message);
  announce(message);
}

// ------------------------------------------------------------------ results

/** An option as [key, params] for setT ("B: 4", "No answer"), or [null, "B"] when its text is unknown. */
function optionLabel(q, key) {
  if (!key) return ["reveal.no_answer", null];
  const text = q && q.options ? q.options[key] : undefined;
  return text === undefined ? [null, key] : ["common.option", { key, text }];
}

/** setT for a [key, params] pair; [null, text] sets plain text. */
function setMessage(node, [key, params]) {
  if (key) setT(node, key, params);
  else setText(node, params);
}

function messageText([key, params]) {
  return key ? t(key, params) : params;
}

/** Rank and total as [key, params] for setT ([null, null] when there is nothing to say). */
function rankMessage(rank, total) {
  if (rank === null || rank === undefined) {
    return total === null || total === undefined ? [null, null] : ["rank.total_only", { count: roundScore(total) }];
  }
  return ["rank.with_total", { rank: Number(rank), count: roundScore(total ?? 0) }];
}

function setRank(node, rank, total) {
  const [key, params] = rankMessage(rank, total);
  if (key) setT(node, key, params);
  else setText(node, "");
}

function rankText(rank, total) {
  const [key, params] = rankMessage(rank, total);
  return key ? t(key, params) : "";
}

function renderTop(listId, rows) {
  const items = (rows || []).map((r) =>
    el(
      "li",
      { class: r.is_you ? "you" : null },
      tEl("span", { class: "top-rank" }, "rank.place", { rank: Number(r.rank) }),
      el("span", { class: "top-name" }, el("bdi", null, r.name), r.is_you ? tEl("span", { class: "you-badge" }, "common.you") : null),
      el("span", { class: "top-score" }, fmtScore(r.score)),
    ),
  );
  if (!items.length) items.push(tEl("li", { class: "empty" }, "common.no_scores"));
  setChildren($(listId), items);
}

function updateTotal(total) {
  if (S.me && total !== undefined && total !== null) {
    S.me.total_score = total;
    renderWho();
  }
}

function onQuestionClosed(msg) {
  const idx = Number(msg.question_idx);
  S.sessionState = "question_closed";
  countdown.stop();
  S.pending = null;
  const q = S.questions.get(idx);
  const yours = msg.your_answer ?? null;
  const correct = msg.correct;
  const result = $("reveal-result");
  result.classList.remove("correct", "wrong", "missed");
  let headline;
  if (!yours) {
    headline = "reveal.missed";
    result.classList.add("missed");
  } else if (yours === correct) {
    headline = "reveal.correct";
    result.classList.add("correct");
  } else {
    headline = "reveal.wrong";
    result.classList.add("wrong");
  }
  setT("reveal-h", headline);
  setT("reveal-points", "reveal.points", { count: roundScore(msg.your_score ?? 0) });
  setT("reveal-count", ...counter(idx));
  setText("reveal-question", q ? q.text : "");
  setMessage("reveal-correct", optionLabel(q, correct));
  setMessage("reveal-yours", optionLabel(q, yours));
  setRank("reveal-rank", msg.your_rank, msg.your_total);
  const rank = rankText(msg.your_rank, msg.your_total);
  const explanation = msg.explanation || "";
  setText("reveal-explanation", explanation);
  $("reveal-explanation-wrap").hidden = !explanation;
  S.lastTop5 = msg.top5 || [];
  renderTop("reveal-top", S.lastTop5);
  updateTotal(msg.your_total);
  showView("view-reveal");
  announce(t("reveal.announce", { headline: t(headline), answer: messageText(optionLabel(q, correct)), rank }));
}

function renderBetween(msg) {
  const next = msg.next_idx;
  if (next === null || next === undefined) setT("between-h", "between.title");
  else if (S.totalQuestions) setT("between-h", "between.title_n", { n: Number(next) + 1, total: S.totalQuestions });
  else setT("between-h", "between.title_n_open_end", { n: Number(next) + 1 });
  const rankNode = $("between-rank");
  setRank(rankNode, msg.your_rank, msg.your_total);
  if (msg.your_rank !== null && msg.your_rank !== undefined) rankNode.dataset.fromServer = "1";
  else delete rankNode.dataset.fromServer;
  $("between-top-card").hidden = !(msg.top5 && msg.top5.length);
  renderTop("between-top", msg.top5);
  showView("view-between");
}

function onBetween(msg) {
  S.sessionState = "between_questions";
  S.question = null;
  if (msg.top5) S.lastTop5 = msg.top5;
  updateTotal(msg.your_total);
  renderBetween(msg);
  announce(t("between.announce", { rank: rankText(msg.your_rank, msg.your_total) }));
}

function onEnded(msg) {
  S.sessionState = "finished";
  S.question = null;
  countdown.stop();
  const answered = msg.questions_answered ?? 0;
  if (msg.your_rank) setT("ended-rank", "ended.rank", { rank: Number(msg.your_rank) });
  else setT("ended-rank", "ended.thanks");
  if (S.totalQuestions) setT("ended-answered", "ended.answered_of", { count: Number(answered), total: S.totalQuestions });
  else setText("ended-answered", fmtScore(answered));
  setText("ended-correct", fmtScore(msg.questions_correct ?? 0));
  setT("ended-total", "common.points", { count: roundScore(msg.your_total ?? 0) });
  renderTop("ended-top", msg.final_top5);
  updateTotal(msg.your_total);
  showView("view-ended");
  announce(t("ended.announce", { rank: rankText(msg.your_rank, msg.your_total) }));
}

// ------------------------------------------------------------------ focus / visibility events

// The dashboard counts blur and hidden events as tab switches. A reload or a navigation
// away also hides the page (and may blur it) on its way out, and must not count: so a
// leaving event (blur, visibility_hidden) is held for LEAVE_GRACE_MS and sent only if
// the page is still alive then, or sooner when the page comes back (focus, visible).
// pagehide, which a reload or navigation fires, drops what is held and silences the page.
const LEAVE_GRACE_MS = 1000;
const lastEventAt = new Map();
const heldEvents = new Map(); // kind -> {timer, body}
let unloading = false;

function sendEvent(body) {
  fetch("/event", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
    keepalive: true,
  }).catch(() => {});
}

function flushHeld() {
  for (const [kind, held] of heldEvents) {
    window.clearTimeout(held.timer);
    heldEvents.delete(kind);
    sendEvent(held.body);
  }
}

function postEvent(kind) {
  if (!S.me || !S.sock || unloading) return;
  const now = performance.now();
  if (now - (lastEventAt.get(kind) || -Infinity) < 300) return; // a burst counts once
  lastEventAt.set(kind, now);
  const body = { kind };
  if (S.question && S.sessionState === "question_open") body.question_idx = S.question.idx;
  if (kind === "blur" || kind === "visibility_hidden") {
    if (heldEvents.has(kind)) return;
    const timer = window.setTimeout(() => {
      heldEvents.delete(kind);
      if (!unloading) sendEvent(body);
    }, LEAVE_GRACE_MS);
    heldEvents.set(kind, { timer, body });
    return;
  }
  flushHeld(); // back before the grace ran out: the page stayed open, so the switch was real
  sendEvent(body);
}

window.addEventListener("blur", () => postEvent("blur"));
window.addEventListener("focus", () => postEvent("focus"));
document.addEventListener("visibilitychange", () => {
  postEvent(document.visibilityState === "hidden" ? "visibility_hidden" : "visibility_visible");
});
window.addEventListener("pagehide", () => {
  unloading = true;
  for (const held of heldEvents.values()) window.clearTimeout(held.timer);
  heldEvents.clear();
});
// Back from the back/forward cache: the page is alive again.
window.addEventListener("pageshow", (ev) => {
  if (ev.persisted) unloading = false;
});

// ------------------------------------------------------------------ wiring

$("join-form").addEventListener("submit", onJoinSubmit);
$("student-id").addEventListener("input", () => fieldError("student-id", "student-id-error", ""));
$("student-name").addEventListener("input", () => fieldError("student-name", "student-name-error", ""));

$("answers").addEventListener("click", (ev) => {
  const button = ev.target.closest("button.answer");
  if (button) choose(button.dataset.key);
});

document.addEventListener("keydown", (ev) => {
  if (S.view !== "view-question" || S.locked || ev.altKey || ev.ctrlKey || ev.metaKey) return;
  if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLTextAreaElement) return;
  const map = { a: "A", b: "B", c: "C", d: "D", 1: "A", 2: "B", 3: "C", 4: "D" };
  const key = map[ev.key.toLowerCase()];
  if (key && S.question && Object.prototype.hasOwnProperty.call(S.question.options, key)) {
    ev.preventDefault();
    choose(key);
  }
});

async function boot(attempt = 0) {
  showLoading("loading.connecting");
  try {
    const res = await fetchJson("/me");
    if (res.status === 200 && res.data) {
      S.me = { student_id: res.data.student_id, name: res.data.name, total_score: res.data.total_score ?? 0 };
      renderWho();
      startSocket();
    } else if (res.status === 401 || res.status === 403) {
      showJoin();
    } else {
      throw new Error(`status ${res.status}`);
    }
  } catch {
    const delay = Math.min(10000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    showLoading("loading.retrying");
    window.setTimeout(() => boot(attempt + 1), delay);
  }
}

// The language first, so that nothing is shown in the wrong one; a change in the menu
// re-translates what is on the page (see i18n.js: every message was set with setT).
await initPageLanguage({ storageKey: LANGUAGE_KEY, followBrowser: true, menu: $("lang-select") });
boot();
