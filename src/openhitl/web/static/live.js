// OpenHITL reviewer app, live state: the event feed, time left, the queue's cards, the notification list,
// the open request and its claim (held while the page is visible, renewed by a heartbeat, given back when it
// is hidden or closed), and answers checked against their limits before they are sent. Every page works
// without it.
"use strict";
(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  const csrf = () => document.body.dataset.csrf || "";
  const TIMED_OUT = "Timed out: time ran out before an answer was sent.";
  const someone = (name) => name || "Another reviewer";

  // ---- Time left: counted down every second from what the server said when it drew the page ----
  function duration(ms) {
    const seconds = Math.max(0, Math.floor(ms / 1000));
    if (seconds < 60) return `${seconds}s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
    if (seconds < 86400) {
      const hours = Math.floor(seconds / 3600), minutes = Math.floor((seconds % 3600) / 60);
      return minutes ? `${hours}h ${minutes}m` : `${hours}h`;
    }
    return `${Math.floor(seconds / 86400)}d`;
  }

  function tick() {
    const now = Date.now();
    $$("[data-deadline-in]").forEach((clock) => {
      if (clock.deadline === undefined) clock.deadline = now + Number(clock.dataset.deadlineIn);
      if (clock.expired) return;
      const left = clock.deadline - now;
      const shown = $("[data-left]", clock);
      if (shown) shown.textContent = duration(left);
      if (left <= 0) {
        clock.expired = true;
        clock.dispatchEvent(new CustomEvent("openhitl:deadline", { bubbles: true }));
      }
    });
  }

  // ---- The event feed: the reviewer's loops, resumed exactly where it left off (Last-Event-ID) ----
  const FEED_EVENTS = [
    "request.created", "request.updated", "request.claimed", "request.released", "request.claim_expired",
    "request.completed", "request.cancelled", "request.timeout",
    "loop.member_joined", "loop.member_left", "loop.deleted",
  ];
  function follow(after, handle) {
    const source = new EventSource(`/v1/api/events?after=${encodeURIComponent(after || "0")}`);
    FEED_EVENTS.forEach((type) => source.addEventListener(type, (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch (_) { return; }
      handle(event);
      document.dispatchEvent(new CustomEvent("openhitl:event", { detail: event }));
    }));
    return source;
  }

  // ---- A list the server draws: fetched again (from its data-refresh) when something it shows changed ----
  function redrawer(list) {
    let fetching = false, again = false;
    return async function redraw() {
      if (fetching) { again = true; return; }
      fetching = true;
      try {
        do {
          again = false;
          const answer = await fetch(list.dataset.refresh, { headers: { Accept: "text/html" } });
          if (answer.ok) {
            list.innerHTML = await answer.text();
            tick();
            list.dispatchEvent(new CustomEvent("openhitl:swapped", { bubbles: true }));
          }
        } while (again);
      } catch (_) { /* offline: the next event brings it up to date */ } finally { fetching = false; }
    };
  }

  // ---- The queue: each card follows its request; new ones come with a fresh copy of the queue ----
  function liveQueue(container) {
    const me = container.dataset.userId;
    const onlyLoop = container.dataset.loopId || "";
    const queue = $("#queue", container);
    const refresh = redrawer(queue);

    const cardOf = (id) => $$(".card[data-request-id]", queue).find((card) => card.dataset.requestId === id);
    function badge(card, text, mine) {
      const shown = $("[data-claim-badge]", card);
      if (!shown) return;
      shown.textContent = text;
      shown.hidden = !text;
      shown.className = `badge ${mine ? "mine" : "claimer"}`;
    }
    function claimed(card, name, mine) {
      card.classList.toggle("is-claimed", !mine);
      badge(card, mine ? "claimed by you" : `Claimed by ${name || "another reviewer"}`, mine);
    }
    function backInQueue(card) {
      card.classList.remove("is-claimed");
      badge(card, "", true);
    }
    function leave(card, note) {
      if (card.classList.contains("is-closed")) return;
      card.classList.remove("is-claimed");
      card.classList.add("is-closed");
      card.removeAttribute("href");
      card.removeAttribute("data-nav");
      card.setAttribute("aria-disabled", "true");
      const meta = $(".card-meta", card);
      if (meta) {
        const shown = document.createElement("span");
        shown.className = "card-note";
        shown.textContent = note;
        meta.replaceChildren(shown);
      }
      setTimeout(() => {
        (card.closest("li") || card).remove();
        if (!$(".card", queue)) refresh();  // the last one: the server draws the empty queue
      }, 4000);
    }

    function handle(event) {
      if (onlyLoop && event.loop_id && event.loop_id !== onlyLoop) return;
      const card = event.request_id ? cardOf(event.request_id) : null;
      const name = (event.data || {}).by_name;
      const mine = event.actor_id === me;
      switch (event.type) {
        case "request.claimed":
          if (card) claimed(card, name, mine); else refresh();
          break;
        case "request.released":
        case "request.claim_expired":
          if (card) backInQueue(card); else refresh();
          break;
        case "request.completed":
          if (card) leave(card, mine ? "You answered" : `Answered by ${name || "another reviewer"}`);
          break;
        case "request.cancelled":
          if (card) leave(card, "Cancelled");
          break;
        case "request.timeout":
          if (card) leave(card, "Timed out");
          break;
        default:  // new or changed requests, members joining and leaving, a loop deleted
          refresh();
      }
    }

    container.addEventListener("openhitl:deadline", (event) => {
      const card = event.target.closest(".card");
      if (card) leave(card, "Timed out");  // the server's timeout event follows and finds it gone
    });
    follow(container.dataset.eventsAfter, handle);
  }

  // ---- The notification list (the bell): drawn again when a request it may name changes ----
  const NOTICE_EVENTS = [
    "request.created", "request.claim_expired", "request.completed", "request.cancelled", "request.timeout",
    "loop.member_joined", "loop.member_left", "loop.deleted",
  ];
  function liveNotices(container) {
    const redraw = redrawer($("#notices", container));
    follow(container.dataset.eventsAfter, (event) => { if (NOTICE_EVENTS.includes(event.type)) redraw(); });
  }

  // ---- Limits: every rule of the response type, checked before sending (the server checks them again) ----
  const NUMBER = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?$/;

  // [significant digits, decimal places] of a number as the server counts them: the shortest decimal that
  // reads back as the same double (Python's repr, JavaScript's toExponential()), trailing zeros ignored.
  function digitsOf(number) {
    if (number === 0) return [1, 0];
    const [mantissa, exponent] = Math.abs(number).toExponential().split("e");
    const figures = mantissa.replace(".", "").replace(/0+$/, "");
    return [figures.length, Math.max(0, figures.length - 1 - Number(exponent))];
  }

  function numberProblem(raw, rules) {
    const text = raw.trim().replace(/,/g, "");
    if (!text) return rules.missing;
    if (text.length > rules.max_typed || !NUMBER.test(text)) return rules.not_a_number;
    const number = Number(text);
    if (!Number.isFinite(number) || Math.abs(number) > rules.magnitude) return rules.too_large;
    if (number < 0 && !rules.negative) return rules.negative_refused;
    if (rules.min !== null && number < rules.min) return rules.below;
    if (rules.max !== null && number > rules.max) return rules.above;
    const [significant, places] = digitsOf(number);
    if (places > rules.places) return rules.too_precise;
    if (significant > rules.digits) return rules.too_many_digits;
    return "";
  }

  function textProblem(raw, rules) {
    const text = raw.trim();
    const length = [...text].length;  // characters, as the server counts them
    if (!length) return rules.required ? rules.missing : "";
    if (length < rules.min_length) return rules.too_short;
    if (length > rules.max_length) return rules.too_long;
    return "";
  }

  // What is wrong with the answer as it stands ("" when it may be sent).
  function answerProblem(form) {
    const rules = JSON.parse(form.dataset.limits || "{}");
    const field = $("[name=answer]:not([type=radio]):not([type=checkbox]):not(button)", form);
    if (form.classList.contains("type-number") && field) return numberProblem(field.value, rules);
    if (form.classList.contains("type-text") && field) return textProblem(field.value, rules);
    if (rules.min === undefined) return "";
    const picked = $$("input[name=answer]:checked", form).length;
    if (picked < rules.min) return rules.too_few;
    if (picked > rules.max) return rules.too_many;
    return "";
  }

  function showProblem(form, text) {
    const slot = $("[data-answer-problem]", form);
    if (!slot) return;
    slot.textContent = text || "";
    slot.hidden = !text;
    $$("[aria-describedby=answer-problem]", form).forEach((control) => {
      if (text) control.setAttribute("aria-invalid", "true"); else control.removeAttribute("aria-invalid");
    });
  }

  function checkAsTyped(form) {
    const slot = $("[data-answer-problem]", form);
    const recheck = () => {
      const problem = answerProblem(form);
      // Too many picks shows at once; the rest once Send was tried, then clears as soon as it is fixed.
      const rules = JSON.parse(form.dataset.limits || "{}");
      const over = rules.max !== undefined && $$("input[name=answer]:checked", form).length > rules.max;
      if (over || (slot && !slot.hidden)) showProblem(form, problem);
    };
    form.addEventListener("input", recheck);
    form.addEventListener("change", recheck);
  }

  // ---- The open request: its claim, what happens to it meanwhile, and the answer ----
  function liveRequest(section) {
    const id = section.dataset.requestId;
    const me = section.dataset.userId;
    const form = $("#answer-form", section);
    const lock = $("[data-answer-lock]", section);
    const notice = $("[data-live-notice]", section);
    const heldMark = $("[data-held]", section);
    const lease = $(".lease", section);
    const releaseForm = $("[data-release]", section);
    const beat = Math.max(1000, (Number(section.dataset.leaseSeconds) * 1000) / 3);
    let holding = section.hasAttribute("data-claimed-by-me");
    let sent = false;

    const visible = () => document.visibilityState === "visible";
    const say = (text) => { notice.textContent = text || ""; notice.hidden = !text; };
    // held: ours, answerable · open: nobody's, answerable · locked: someone else's · closed: for good.
    function show(state) {
      section.dataset.state = state;
      section.toggleAttribute("data-claimed-by-me", state === "held");
      if (state !== "held") holding = false;
      if (lock) lock.disabled = state === "locked" || state === "closed";
      if (heldMark) heldMark.hidden = state !== "held";
      if (releaseForm) releaseForm.hidden = state !== "held";
      if (state === "closed" && lease) lease.hidden = true;
    }
    const closed = () => section.dataset.state === "closed";
    function apply(state) {
      if (state.held) { holding = true; say(""); show("held"); }
      else if (state.answerable) { say(""); show("open"); }
      else { say(state.notice); show(state.status === "pending" || state.status === "claimed" ? "locked" : "closed"); }
    }
    function close(text) {
      if (sent) return;
      say(text);
      show("closed");
    }

    async function hold() {
      if (closed() || sent || !visible() || section.dataset.state === "locked") return;
      try {
        const answer = await fetch(`/requests/${id}/claim`, {
          method: "POST",
          headers: { Accept: "application/json", "X-CSRF-Token": csrf() },
        });
        const reply = await answer.json();
        if (closed() || sent) return;
        if (reply.data && reply.data.state) apply(reply.data.state);
        else if (answer.status === 404) close("You are no longer in this request's loop.");
      } catch (_) { /* offline: the next beat tries again */ }
    }
    function release() {
      if (!holding || sent) return;
      holding = false;
      const body = new FormData();  // a beacon cannot set headers: the CSRF token rides in the body
      body.append("csrf_token", csrf());
      navigator.sendBeacon(`/requests/${id}/release?beacon=1`, body);
      show(closed() ? "closed" : "open");
    }

    function handle(event) {
      if (event.request_id !== id || closed()) return;
      const name = (event.data || {}).by_name;
      const mine = event.actor_id === me;
      switch (event.type) {
        case "request.claimed":
          if (!mine) { say(`${someone(name)} is answering this request now.`); show("locked"); }
          break;
        case "request.released":
        case "request.claim_expired":
          if (section.dataset.state === "locked") { say(""); show("open"); }
          hold();  // back in the queue while this page shows it: held again if it is visible
          break;
        case "request.completed":
          close(mine ? "You answered this request." : `${someone(name)} answered this request first.`);
          break;
        case "request.cancelled":
          close("The requester cancelled this request.");
          break;
        case "request.timeout":
          close(TIMED_OUT);
          break;
        case "request.updated":
          say("The requester changed this request: reload the page to see it as it is now.");
          break;
        default:
      }
    }

    section.addEventListener("openhitl:deadline", () => close(TIMED_OUT));
    document.addEventListener("visibilitychange", () => (visible() ? hold() : release()));
    window.addEventListener("pagehide", release);
    window.addEventListener("pageshow", (event) => { if (event.persisted) hold(); });
    if (releaseForm) releaseForm.addEventListener("submit", () => { holding = false; });
    setInterval(hold, beat);  // the heartbeat: renews the lease while the page is open and visible

    if (form) {
      form.noValidate = true;  // the limits are said next to the control, not in the browser's bubbles
      checkAsTyped(form);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (sent || (lock && lock.disabled)) return;
        const problem = answerProblem(form);
        showProblem(form, problem);
        if (problem) return;
        const body = new FormData(form);
        if (event.submitter && event.submitter.name) body.append(event.submitter.name, event.submitter.value);
        const buttons = $$("button[type=submit]", form);
        buttons.forEach((button) => { button.disabled = true; });
        try {
          const answer = await fetch(form.action, {
            method: "POST",
            body,
            headers: { Accept: "application/json", "X-CSRF-Token": csrf() },
          });
          const reply = await answer.json().catch(() => ({}));
          if (answer.ok && reply.data && reply.data.location) {
            sent = true;
            window.location.assign(reply.data.location);
            return;
          }
          if (answer.status === 409 && reply.data && reply.data.state) apply(reply.data.state);
          else {
            const detail = typeof reply.data === "string" ? ` ${reply.data}.` : "";
            showProblem(form, reply.msg ? `${reply.msg}${detail}` : "The answer could not be sent. Try again.");
          }
        } catch (_) {
          showProblem(form, "The answer could not be sent: check the connection and try again.");
        } finally {
          if (!sent) buttons.forEach((button) => { button.disabled = false; });
        }
      });
    }

    show(holding ? "held" : lock && lock.disabled ? "locked" : "open");
    follow(section.dataset.eventsAfter, handle);
    hold();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const queue = $("[data-live-queue]");
    if (queue) liveQueue(queue);
    const notices = $("[data-live-notices]");
    if (notices) liveNotices(notices);
    const request = $("#answer[data-live]");
    if (request) liveRequest(request);
    tick();
    setInterval(tick, 1000);
  });
})();
