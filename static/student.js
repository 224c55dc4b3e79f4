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
  pointsText,
  ReconnectingSocket,
  setChildren,
  setText,
  wsUrl,
} from "/static/common.js";

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
    setText("question-status", S.pending ? "Sending your answer…" : "Time's up. Waiting for the results…");
    if (!S.pending) announce("Time's up.");
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
  document.title = `${title} · Quiz`;
}

function renderWho() {
  const who = $("who");
  if (!S.me) {
    who.hidden = true;
    return;
  }
  who.hidden = false;
  setText(who, `${S.me.name} · ${pointsText(S.me.total_score ?? 0)}`);
  setText("lobby-who", `Joined as ${S.me.name} (${S.me.student_id}).`);
}

function showLoading(message) {
  setText("loading-msg", message);
  showView("view-loading");
}

// ------------------------------------------------------------------ join

function fieldError(inputId, errorId, message) {
  const input = $(inputId);
  const err = $(errorId);
  if (message) {
    err.textContent = message;
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
  node.textContent = message || "";
  node.hidden = !message;
}

function showJoin(notice = "") {
  stopSocket();
  S.question = null;
  S.ack = null;
  S.pending = null;
  const n = $("join-notice");
  n.textContent = notice;
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
  if (notice) announce(notice);
}

async function onJoinSubmit(ev) {
  ev.preventDefault();
  formError("");
  const studentId = $("student-id").value.trim();
  const name = $("student-name").value.trim();
  fieldError("student-id", "student-id-error", studentId ? "" : "Enter your student ID.");
  fieldError("student-name", "student-name-error", name ? "" : "Enter your name.");
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
  button.textContent = "Joining…";
  try {
    const res = await fetchJson("/join", { method: "POST", body: { student_id: studentId, name } });
    if (res.ok && res.data) {
      S.me = { student_id: res.data.student_id ?? studentId, name: res.data.name ?? name, total_score: 0 };
      $("join-notice").hidden = true;
      S.justJoined = true;
      renderWho();
      showLoading("Joining…");
      startSocket();
      return;
    }
    const code = res.data && res.data.error;
    if (res.status === 409 || code === "duplicate_student_id") {
      fieldError("student-id", "student-id-error", "That ID has already joined. If it is yours, ask the instructor to clear it.");
      $("student-id").focus();
    } else if (res.status === 400) {
      const message = (res.data && res.data.message) || "Please check your student ID and name.";
      const c = String(code || "");
      if (c.includes("name")) {
        fieldError("student-name", "student-name-error", message);
        $("student-name").focus();
      } else if (c.includes("id")) {
        fieldError("student-id", "student-id-error", message);
        $("student-id").focus();
      } else {
        formError(message);
      }
    } else if (res.status === 429) {
      formError("Too many attempts. Wait a moment and try again.");
    } else {
      formError(`Could not join (error ${res.status}). Try again.`);
    }
  } catch {
    formError("Could not reach the quiz server. Check your connection and try again.");
  } finally {
    button.disabled = false;
    button.textContent = "Join";
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
        showJoin("The session was reset, or you were removed by the instructor. Join again.");
      } else if (S.justJoined && !S.gotMessageSinceConnect) {
        showJoin("You joined, but this browser did not keep the sign-in cookie. Allow cookies for this site and join again.");
      } else {
        showJoin("Your sign-in is no longer valid. Join again.");
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
      return showJoin("The session was reset, or you were removed by the instructor. Join again.");
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
    if (previous !== "lobby") announce("Waiting for the instructor to start.");
  } else if (msg.state === "between_questions") {
    // No payload comes with this state on reconnect: show what we know.
    const nextIdx = msg.current_question_idx === null || msg.current_question_idx === undefined ? null : Number(msg.current_question_idx) + 1;
    renderBetween({ next_idx: nextIdx, top5: S.lastTop5, your_rank: null, your_total: S.me ? S.me.total_score : null });
    refreshMe();
  } else if (S.view === "view-loading" || S.view === "view-join") {
    // question_open / question_closed / finished: the snapshot follows.
    showLoading("Loading the current question…");
  }
}

async function refreshMe() {
  try {
    const res = await fetchJson("/me");
    if (res.ok && res.data && S.me) {
      S.me.total_score = res.data.total_score;
      renderWho();
      if (S.view === "view-between" && !$("between-rank").dataset.fromServer) {
        setText("between-rank", `You have ${pointsText(res.data.total_score)}.`);
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
  if (!sameQuestion) announce(`Question ${idx + 1}${S.totalQuestions ? ` of ${S.totalQuestions}` : ""}: ${q.text}`);

  if (S.ack) {
    markAnswer(S.ack.answer, ackText(S.ack));
  } else if (S.pending) {
    // Sent before a reconnect and never acknowledged: send again. The server
    // answers a repeat with the first ack, so this is safe.
    markAnswer(S.pending.answer, "Sending your answer…");
    if (!S.sock || !S.sock.send({ type: "submit", question_idx: idx, answer: S.pending.answer })) {
      S.pending = null;
      unlockAnswers("Not connected. Tap your answer again when the connection is back.");
    }
  } else if (Number(msg.remaining_ms) <= 0) {
    S.timeUp = true;
    lockAnswers();
    setText("question-status", "Time's up. Waiting for the results…");
  }
}

function renderQuestion(q) {
  setText("question-count", `Question ${q.idx + 1}${S.totalQuestions ? ` of ${S.totalQuestions}` : ""}`);
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
      el("span", { class: "visually-hidden" }, `Option ${key}: `),
      el("span", { class: "answer-text" }, q.options[key]),
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

function unlockAnswers(status) {
  S.locked = false;
  $("answers").classList.remove("locked");
  for (const b of answerButtons()) {
    b.removeAttribute("aria-disabled");
    b.setAttribute("aria-pressed", "false");
    b.classList.remove("chosen");
    b.querySelector(".answer-badge").textContent = "";
  }
  setText("question-status", status || "");
  if (status) announce(status);
}

function markAnswer(answer, status) {
  lockAnswers();
  for (const b of answerButtons()) {
    const chosen = b.dataset.key === answer;
    b.classList.toggle("chosen", chosen);
    b.setAttribute("aria-pressed", chosen ? "true" : "false");
    b.querySelector(".answer-badge").textContent = chosen ? "Your answer" : "";
  }
  setText("question-status", status);
}

function ackText(ack) {
  return `Answer received, ${pointsText(ack.score)}.`;
}

function choose(answer) {
  if (!S.question || S.locked || S.view !== "view-question") return;
  const idx = S.question.idx;
  if (!S.sock || !S.sock.send({ type: "submit", question_idx: idx, answer })) {
    setText("question-status", "Not connected right now. Wait for “Connected” and tap again.");
    announce("Not connected. Try again in a moment.");
    return;
  }
  S.pending = { idx, answer };
  markAnswer(answer, "Sending your answer…");
}

function onSubmitAck(msg) {
  const idx = Number(msg.question_idx);
  if (S.pending && S.pending.idx === idx) S.pending = null;
  if (!S.question || S.question.idx !== idx) return;
  S.ack = { question_idx: idx, answer: msg.answer, score: msg.score, elapsed_ms: msg.elapsed_ms };
  if (S.view === "view-question") {
    const text = ackText(S.ack);
    markAnswer(msg.answer, text);
    announce(text);
  }
}

function onError(msg) {
  const message = msg.message || "Something went wrong.";
  if (S.pending) {
    S.pending = null;
    if (msg.code === "not_open" || msg.code === "time_expired") {
      lockAnswers();
      for (const b of answerButtons()) {
        b.classList.remove("chosen");
        b.setAttribute("aria-pressed", "false");
        b.querySelector(".answer-badge").textContent = "";
      }
      setText("question-status", message);
      announce(message);
    } else {
      unlockAnswers(message);
    }
    return;
  }
  if (S.view === "view-question") setText("question-status", message);
  announce(message);
}

// ------------------------------------------------------------------ results

function optionLabel(q, key) {
  if (!key) return "No answer";
  const text = q && q.options ? q.options[key] : undefined;
  return text === undefined ? key : `${key}: ${text}`;
}

function rankText(rank, total) {
  if (rank === null || rank === undefined) return total === null || total === undefined ? "" : `You have ${pointsText(total)}.`;
  return `You are #${rank} with ${pointsText(total ?? 0)}.`;
}

function renderTop(listId, rows) {
  const items = (rows || []).map((r) =>
    el(
      "li",
      { class: r.is_you ? "you" : null },
      el("span", { class: "top-rank" }, `#${r.rank}`),
      el("span", { class: "top-name" }, r.name, r.is_you ? el("span", { class: "you-badge" }, "You") : null),
      el("span", { class: "top-score" }, fmtScore(r.score)),
    ),
  );
  if (!items.length) items.push(el("li", { class: "empty" }, "No scores yet."));
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
    headline = "No answer";
    result.classList.add("missed");
  } else if (yours === correct) {
    headline = "Correct!";
    result.classList.add("correct");
  } else {
    headline = "Not quite";
    result.classList.add("wrong");
  }
  setText("reveal-h", headline);
  setText("reveal-points", `+${pointsText(msg.your_score ?? 0)}`);
  setText("reveal-count", `Question ${idx + 1}${S.totalQuestions ? ` of ${S.totalQuestions}` : ""}`);
  setText("reveal-question", q ? q.text : "");
  setText("reveal-correct", optionLabel(q, correct));
  setText("reveal-yours", optionLabel(q, yours));
  const rank = rankText(msg.your_rank, msg.your_total);
  setText("reveal-rank", rank);
  const explanation = msg.explanation || "";
  setText("reveal-explanation", explanation);
  $("reveal-explanation-wrap").hidden = !explanation;
  S.lastTop5 = msg.top5 || [];
  renderTop("reveal-top", S.lastTop5);
  updateTotal(msg.your_total);
  showView("view-reveal");
  announce(`${headline}. The correct answer is ${optionLabel(q, correct)}. ${rank}`);
}

function renderBetween(msg) {
  const next = msg.next_idx;
  setText(
    "between-h",
    next === null || next === undefined ? "Get ready for the next question" : `Get ready for question ${Number(next) + 1}${S.totalQuestions ? ` of ${S.totalQuestions}` : ""}`,
  );
  const rankNode = $("between-rank");
  setText(rankNode, rankText(msg.your_rank, msg.your_total));
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
  announce(`Get ready for the next question. ${rankText(msg.your_rank, msg.your_total)}`);
}

function onEnded(msg) {
  S.sessionState = "finished";
  S.question = null;
  countdown.stop();
  const answered = msg.questions_answered ?? 0;
  setText("ended-rank", msg.your_rank ? `You finished #${msg.your_rank}` : "Thanks for playing!");
  setText("ended-answered", S.totalQuestions ? `${answered} of ${S.totalQuestions}` : String(answered));
  setText("ended-correct", String(msg.questions_correct ?? 0));
  setText("ended-total", pointsText(msg.your_total ?? 0));
  renderTop("ended-top", msg.final_top5);
  updateTotal(msg.your_total);
  showView("view-ended");
  announce(`Quiz finished. ${rankText(msg.your_rank, msg.your_total)}`);
}

// ------------------------------------------------------------------ focus / visibility events

const lastEventAt = new Map();

function postEvent(kind) {
  if (!S.me || !S.sock) return;
  const now = performance.now();
  if (now - (lastEventAt.get(kind) || -Infinity) < 300) return; // a burst counts once
  lastEventAt.set(kind, now);
  const body = { kind };
  if (S.question && S.sessionState === "question_open") body.question_idx = S.question.idx;
  fetch("/event", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
    keepalive: true,
  }).catch(() => {});
}

window.addEventListener("blur", () => postEvent("blur"));
window.addEventListener("focus", () => postEvent("focus"));
document.addEventListener("visibilitychange", () => {
  postEvent(document.visibilityState === "hidden" ? "visibility_hidden" : "visibility_visible");
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
  showLoading("Connecting to the quiz…");
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
    showLoading("Can't reach the quiz server. Retrying…");
    window.setTimeout(() => boot(attempt + 1), delay);
  }
}

boot();
