// OpenHITL web app: small progressive enhancements. Every page works without it.
"use strict";
(() => {
  const csrf = () => document.body.dataset.csrf || "";
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  const typing = (el) => el && (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && !["radio", "checkbox"].includes(el.type)));

  function localTimes(root) {
    $$("time[data-local]", root).forEach((t) => {
      const moment = new Date(t.dateTime);
      if (Number.isNaN(moment.getTime())) return;
      t.textContent = t.dataset.local === "time"
        ? moment.toLocaleTimeString([], { timeStyle: "short" })
        : moment.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
    });
  }

  // The answer widget: selection counts, lit stars, text counter.
  function wireAnswer(root) {
    const form = $("#answer-form", root) || (root.id === "answer-form" ? root : null);
    if (!form) return;
    const selection = $("[data-selection]", form);
    const stars = $$(".star", form);
    const counter = $("[data-counter]", form);
    const update = () => {
      const chosen = $$("input[name=answer]:checked", form);
      if (selection) selection.textContent = chosen.length === 0 ? "No option selected" : `${chosen.length} ${chosen.length === 1 ? "option" : "options"} selected`;
      const lit = stars.findIndex((star) => $("input", star).checked);
      stars.forEach((star, index) => star.classList.toggle("lit", lit >= 0 && index <= lit));
      if (counter) $("[data-count]", form).textContent = String(counter.value.length);
    };
    form.addEventListener("change", update);
    form.addEventListener("input", update);
    update();
  }

  // Keyboard: digits pick options, Enter sends, j/k walk the queue.
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.metaKey || (event.ctrlKey && event.key !== "Enter")) return;
    const form = $("#answer-form");
    const inField = typing(document.activeElement);
    if (form && event.key === "Enter" && (!inField || event.ctrlKey || document.activeElement.tagName === "INPUT")) {
      if (document.activeElement.tagName === "TEXTAREA" && !event.ctrlKey) return;
      event.preventDefault();
      form.requestSubmit();
      return;
    }
    if (inField) return;
    if (form && /^[1-9]$/.test(event.key)) {
      const target = $(`[data-key="${event.key}"]`, form);
      if (!target) return;
      event.preventDefault();
      if (target.tagName === "BUTTON") { target.click(); return; }
      target.checked = target.type === "checkbox" ? !target.checked : true;
      target.dispatchEvent(new Event("change", { bubbles: true }));
      return;
    }
    if (event.key === "j" || event.key === "k") {
      const cards = $$("[data-nav]");
      if (!cards.length) return;
      const at = cards.indexOf(document.activeElement);
      const next = event.key === "j" ? Math.min(at + 1, cards.length - 1) : Math.max(at - 1, 0);
      cards[at < 0 ? 0 : next].focus();
      event.preventDefault();
    }
  });

  // The 6-box code entry: typing moves on, backspace moves back, a pasted code fills every box.
  function wireCodeBoxes() {
    const boxes = $$("[data-code-boxes] input");
    boxes.forEach((box, index) => {
      box.addEventListener("input", () => {
        const chars = box.value.toUpperCase().replace(/[^A-Z0-9]/g, "");
        box.value = chars.slice(0, 1);
        chars.slice(1).split("").forEach((char, offset) => { if (boxes[index + 1 + offset]) boxes[index + 1 + offset].value = char; });
        const next = boxes[Math.min(index + Math.max(chars.length, 1), boxes.length - 1)];
        if (chars.length) next.focus();
        if (boxes.every((b) => b.value) && chars.length) box.form.requestSubmit();
      });
      box.addEventListener("keydown", (event) => {
        if (event.key === "Backspace" && !box.value && index > 0) boxes[index - 1].focus();
      });
    });
  }

  function confirmForms() {
    $$("form[data-confirm]").forEach((form) => form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    }));
  }

  // The chosen rating in words: its value on the scale and, when the scale names it, its label.
  function wireStarChoice(root) {
    const choice = $("[data-star-choice]", root);
    if (!choice) return;
    const row = choice.closest("fieldset");
    const stars = $$("input[name=answer]", row);
    const top = stars.length ? stars[stars.length - 1].value : "";
    const say = () => {
      const chosen = stars.find((star) => star.checked);
      if (!chosen) { choice.textContent = ""; return; }
      const label = chosen.dataset.label !== chosen.value ? ` · ${chosen.dataset.label}` : "";
      choice.textContent = `${chosen.value} of ${top}${label}`;
    };
    row.addEventListener("change", say);
    say();
  }

  // On a phone, a button that jumps to the answer, shown while the answer is out of sight. The answer
  // section is swapped when the claim comes back, so the watch moves to the new one.
  let answerWatch = null;
  function wireAnswerJump() {
    const jump = $("[data-answer-jump]");
    const answer = $("#answer");
    if (answerWatch) answerWatch.disconnect();
    if (!jump || !answer || !("IntersectionObserver" in window)) return;
    answerWatch = new IntersectionObserver((entries) => {
      entries.forEach((entry) => { jump.hidden = entry.isIntersecting; });
    });
    answerWatch.observe(answer);
  }

  // Web Push: subscribe this device and tell the server; when it cannot be done, say why and what to do.
  const urlBase64ToBytes = (text) => {
    const padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  };
  const PUSH_PROBLEMS = {
    "not-installed": "On iPhone and iPad, notifications work only in the installed app. Tap the Share button, choose Add to Home Screen, then open OpenHITL from your Home Screen and turn notifications on there.",
    unsupported: "This browser can't show notifications. Open this page in an up-to-date Chrome, Edge, Firefox or Safari.",
    insecure: "Notifications need a secure (https) address. Ask whoever runs this server to serve it over https.",
    denied: "Notifications are blocked for this site. Allow them in your browser's site settings (the icon beside the address), then tap Enable notifications again.",
    dismissed: "Notifications weren't allowed. Tap Enable notifications again and choose Allow.",
    failed: "Couldn't turn notifications on",
  };
  const appleMobile = () => /iPhone|iPad|iPod/.test(navigator.userAgent) || (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  const installed = () => navigator.standalone === true || window.matchMedia("(display-mode: standalone)").matches;
  function pushSupport() {
    if (!window.isSecureContext) return "insecure";  // browsers hide service workers from http pages
    const capable = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
    if (!capable && appleMobile() && !installed()) return "not-installed";
    if (!capable) return "unsupported";
    return null;
  }
  // The worker's registration, or an error when it never becomes ready (blocked, or failed to install).
  const workerReady = () => Promise.race([
    navigator.serviceWorker.ready,
    new Promise((_, reject) => setTimeout(() => reject(new Error("the app's service worker did not start")), 10000)),
  ]);

  async function subscribeThisDevice() {
    const registration = await workerReady();
    const keyAnswer = await fetch("/v1/api/push/vapid-public-key");
    if (!keyAnswer.ok) throw new Error("the server did not give its push key");
    const key = (await keyAnswer.json()).data.public_key;
    const options = { userVisibleOnly: true, applicationServerKey: urlBase64ToBytes(key) };
    const register = (subscription) => fetch("/v1/api/push/subscriptions", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(subscription.toJSON()),
    });
    let subscription = await registration.pushManager.subscribe(options);
    let answer = await register(subscription);
    if (answer.status === 409) {
      // This browser's subscription is still another account's (it was not signed out): start a fresh one.
      await subscription.unsubscribe();
      subscription = await registration.pushManager.subscribe(options);
      answer = await register(subscription);
    }
    if (!answer.ok) {
      const body = await answer.json().catch(() => ({}));
      throw new Error(body.msg || `the server answered ${answer.status}`);
    }
  }

  function wirePush() {
    const enable = $("[data-enable-push]");
    if (!enable) return;
    const disable = $("[data-disable-push]");
    const status = $("[data-push-status]");
    const problem = $("[data-push-problem]");
    const tell = (kind, detail) => {
      problem.hidden = !kind;
      problem.textContent = kind ? (detail ? `${PUSH_PROBLEMS[kind]}: ${detail}. Try again.` : PUSH_PROBLEMS[kind]) : "";
    };
    const show = (subscribed) => {
      enable.hidden = subscribed;
      disable.hidden = !subscribed;
      status.textContent = subscribed ? "Notifications are on for this device." : "Get a notification on this device when a request arrives.";
    };
    const unsupported = pushSupport();
    if (unsupported) { tell(unsupported); return; }
    show(false);
    if (Notification.permission === "denied") tell("denied");
    workerReady()
      .then((registration) => registration.pushManager.getSubscription())
      .then((subscription) => show(Boolean(subscription)))
      .catch(() => {});  // asked again, with the reason, when Enable is tapped
    enable.addEventListener("click", async () => {
      tell(null);
      enable.disabled = true;
      try {
        const permission = await Notification.requestPermission();
        if (permission === "granted") {
          await subscribeThisDevice();
          show(true);
        } else {
          tell(permission === "denied" ? "denied" : "dismissed");
        }
      } catch (error) {
        tell("failed", (error && error.message) || String(error));
      } finally {
        enable.disabled = false;
      }
    });
    disable.addEventListener("click", async () => {
      tell(null);
      try {
        const subscription = await (await workerReady()).pushManager.getSubscription();
        if (subscription) {
          await fetch("/v1/api/push/subscriptions", {
            method: "DELETE",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
            body: JSON.stringify({ endpoint: subscription.endpoint }),
          });
          await subscription.unsubscribe();
        }
        show(false);
      } catch (error) {
        tell("failed", (error && error.message) || String(error));
      }
    });
  }

  if ("serviceWorker" in navigator && csrf()) navigator.serviceWorker.register("/sw.js").catch(() => {});
  document.addEventListener("DOMContentLoaded", () => {
    localTimes(document);
    wireAnswer(document);
    wireStarChoice(document);
    wireAnswerJump();
    wireCodeBoxes();
    confirmForms();
    wirePush();
  });
  const swapped = (event) => {
    localTimes(event.target);
    wireAnswer(event.target);
    wireStarChoice(event.target);
    wireAnswerJump();
  };
  document.addEventListener("htmx:afterSwap", swapped);
  document.addEventListener("openhitl:swapped", swapped);  // the live queue's fresh copy (live.js)
})();
