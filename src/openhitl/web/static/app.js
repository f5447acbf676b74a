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
      if (!Number.isNaN(moment.getTime())) t.textContent = moment.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
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
      if (selection) selection.textContent = chosen.length === 0 ? "No Option Selected" : `${chosen.length} ${chosen.length === 1 ? "Option" : "Options"} Selected`;
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

  // Web Push: subscribe this device and tell the server.
  const urlBase64ToBytes = (text) => {
    const padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  };
  async function wirePush() {
    const enable = $("[data-enable-push]");
    if (!enable) return;
    const disable = $("[data-disable-push]");
    const status = $("[data-push-status]");
    if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
      status.textContent = "This browser can't receive notifications. On iPhone, add the app to your Home Screen first.";
      return;
    }
    const registration = await navigator.serviceWorker.ready;
    const show = (subscribed) => {
      enable.hidden = subscribed;
      disable.hidden = !subscribed;
      status.textContent = subscribed ? "Notifications are on for this device." : "Get a notification on this device when a request arrives.";
    };
    show(Boolean(await registration.pushManager.getSubscription()));
    enable.addEventListener("click", async () => {
      if ((await Notification.requestPermission()) !== "granted") {
        status.textContent = "Notifications are blocked for this site. Allow them in the browser's settings.";
        return;
      }
      const key = (await (await fetch("/v1/api/push/vapid-public-key")).json()).data.public_key;
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
      if (answer.ok) show(true);
      else status.textContent = (await answer.json()).msg || "Could not turn notifications on.";
    });
    disable.addEventListener("click", async () => {
      const subscription = await registration.pushManager.getSubscription();
      if (subscription) {
        await fetch("/v1/api/push/subscriptions", {
          method: "DELETE",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
          body: JSON.stringify({ endpoint: subscription.endpoint }),
        });
        await subscription.unsubscribe();
      }
      show(false);
    });
  }

  if ("serviceWorker" in navigator && csrf()) navigator.serviceWorker.register("/sw.js").catch(() => {});
  document.addEventListener("DOMContentLoaded", () => {
    localTimes(document);
    wireAnswer(document);
    wireCodeBoxes();
    confirmForms();
    wirePush();
  });
  const swapped = (event) => {
    localTimes(event.target);
    wireAnswer(event.target);
  };
  document.addEventListener("htmx:afterSwap", swapped);
  document.addEventListener("openhitl:swapped", swapped);  // the live queue's fresh copy (live.js)
})();
